// Keeps a Cesium3DTileset's URL on the current version of one greentwin layer: "city", or
// "vegetation_baked" (trees without EXT_mesh_gpu_instancing, which Cesium for Unity does not
// draw). Each version has its own immutable URL, so a new URL reloads the tileset.
using CesiumForUnity;
using UnityEngine;

namespace Greentwin
{
    [AddComponentMenu("Greentwin/Greentwin Tileset Layer")]
    [RequireComponent(typeof(Cesium3DTileset))]
    public class GreentwinTilesetLayer : MonoBehaviour
    {
        public GreentwinClient client;
        [Tooltip("city, vegetation_baked, or another 3D Tiles layer")] public string layer = "vegetation_baked";

        Cesium3DTileset tileset;

        void OnEnable()
        {
            tileset = GetComponent<Cesium3DTileset>();
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
            if (name != layer || kind != "3dtiles" || tileset == null || tileset.url == url) return;
            tileset.tilesetSource = CesiumDataSource.FromUrl;
            tileset.url = url;
        }
    }
}
