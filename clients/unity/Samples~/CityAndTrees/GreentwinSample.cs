// Sample: the city and its trees from a greentwin server, and a first edit.
// Scene set-up (see Documentation~/index.md): a CesiumGeoreference with two Cesium3DTileset
// children, each with a GreentwinTilesetLayer ("city" and "vegetation_baked"), optionally a
// CesiumUrlTemplateRasterOverlay + GreentwinOverlayLayer ("noise_lden") on the city; a
// GreentwinClient with a planner token; and this component. Use its context menu to plant a
// tree where the server says the city is, undo it, or fetch a tree model.
using System.Threading.Tasks;
using CesiumForUnity;
using UnityEngine;

namespace Greentwin.Samples
{
    [AddComponentMenu("Greentwin/Samples/Greentwin Sample")]
    public class GreentwinSample : MonoBehaviour
    {
        public GreentwinClient client;
        public CesiumGeoreference georeference;
        public string species = "tilia_cordata";
        [Tooltip("Metres east of the city's origin to plant at")] public double eastMetres = 20;

        double originLon, originLat, originHeight;

        void OnEnable()
        {
            if (client != null) client.Welcomed += OnWelcome;
        }

        void OnDisable()
        {
            if (client != null) client.Welcomed -= OnWelcome;
        }

        void OnWelcome(System.Collections.Generic.Dictionary<string, object> welcome)
        {
            var origin = Json.Obj(welcome, "origin");
            originLon = Json.Num(origin, "lon", 0);
            originLat = Json.Num(origin, "lat", 0);
            originHeight = Json.Num(origin, "height", 0);
            Debug.Log("greentwin: the city is at " + originLon + ", " + originLat);
        }

        /// <summary>Degrees of longitude per metre at a latitude (spherical approximation).</summary>
        static double LonPerMetre(double latDeg)
        {
            return 1.0 / (111320.0 * System.Math.Cos(latDeg * System.Math.PI / 180.0));
        }

        [ContextMenu("Plant a tree near the origin")]
        public async void PlantNearOrigin()
        {
            long seq = await client.PlantTree(species, originLon + eastMetres * LonPerMetre(originLat), originLat, 10);
            Debug.Log("greentwin: planted, seq " + seq + "; the vegetation_baked layer follows");
        }

        [ContextMenu("Undo")]
        public async void UndoLast()
        {
            Debug.Log("greentwin: undone, seq " + await client.Undo());
        }

        [ContextMenu("Show a tree model at the origin")]
        public async void ShowModel()
        {
            var frame = await client.RequestTreeModel(species, 20, 1);
            Transform parent = georeference != null ? georeference.transform : null;
            await GreentwinGlb.InstantiateAt(frame, parent, originLon, originLat, originHeight);
        }
    }
}
