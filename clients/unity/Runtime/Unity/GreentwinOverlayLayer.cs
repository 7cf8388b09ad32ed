// Drapes a greentwin map overlay (noise_lden, no2, diff_pm10, ...) on a tileset through
// Cesium for Unity's URL-template raster overlay (Cesium for Unity 1.16+); the overlay's
// template follows the layer's current version (XYZ Web Mercator tiles).
using CesiumForUnity;
using UnityEngine;

namespace Greentwin
{
    [AddComponentMenu("Greentwin/Greentwin Overlay Layer")]
    [RequireComponent(typeof(CesiumUrlTemplateRasterOverlay))]
    public class GreentwinOverlayLayer : MonoBehaviour
    {
        public GreentwinClient client;
        [Tooltip("noise_lden, noise_lnight, no2, pm10 or a diff_ layer")] public string layer = "noise_lden";
        [Tooltip("Deepest zoom level the server renders for the district")] public int maximumLevel = 18;

        CesiumUrlTemplateRasterOverlay overlay;

        void OnEnable()
        {
            overlay = GetComponent<CesiumUrlTemplateRasterOverlay>();
            if (client == null) return;
            client.LayerChanged += OnLayer;
            string url, kind;
            if (client.TryGetLayer(layer, out url, out kind)) OnLayer(layer, url, kind);
        }

        void OnDisable()
        {
            if (client != null) client.LayerChanged -= OnLayer;
        }

        void OnLayer(string name, string url, string kind)
        {
            if (name != layer || kind != "overlay" || overlay == null) return;
            overlay.maximumLevel = maximumLevel;
            overlay.templateUrl = url;  // {z}/{x}/{y}, as the server names them
        }
    }
}
