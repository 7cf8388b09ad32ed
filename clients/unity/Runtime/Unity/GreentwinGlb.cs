// Instantiates request_glb answers with glTFast; optionally places them on the globe with a
// CesiumGlobeAnchor (longitude, latitude in degrees, height in metres above the ellipsoid).
using System.Threading.Tasks;
using CesiumForUnity;
using GLTFast;
using Unity.Mathematics;
using UnityEngine;

namespace Greentwin
{
    public static class GreentwinGlb
    {
        /// <summary>A new GameObject holding the model, under <paramref name="parent"/>
        /// (a CesiumGeoreference for anchored models); null if glTFast cannot load it.</summary>
        public static async Task<GameObject> Instantiate(GlbFrame frame, Transform parent)
        {
            var gltf = new GltfImport();
            if (!await gltf.LoadGltfBinary(frame.Glb)) return null;
            var go = new GameObject("greentwin " + frame.Kind + " " + frame.Ref);
            go.transform.SetParent(parent, false);
            if (!await gltf.InstantiateMainSceneAsync(go.transform))
            {
                Object.Destroy(go);
                return null;
            }
            return go;
        }

        public static async Task<GameObject> InstantiateAt(GlbFrame frame, Transform georeference, double lon, double lat, double height)
        {
            var go = await Instantiate(frame, georeference);
            if (go == null) return null;
            var anchor = go.AddComponent<CesiumGlobeAnchor>();
            anchor.longitudeLatitudeHeight = new double3(lon, lat, height);
            return go;
        }
    }
}
