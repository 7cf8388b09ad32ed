// Declarations of the Unity, Cesium for Unity, glTFast and Unity.Mathematics members the
// package's engine glue uses, with the engines' names and signatures and no behaviour. The
// tests compile Runtime/Unity against them with Mono's mcs, so type and syntax errors in the
// glue are caught without the engine. Keep each one matching the real API it stands for.
using System;
using System.Threading;
using System.Threading.Tasks;

namespace UnityEngine
{
    public class Object
    {
        public string name { get; set; }
        public static void Destroy(Object obj) { }
    }

    public class Component : Object
    {
        public GameObject gameObject { get { return null; } }
        public Transform transform { get { return null; } }
        public T GetComponent<T>() { return default(T); }
    }

    public class Behaviour : Component
    {
        public bool enabled { get; set; }
    }

    public class MonoBehaviour : Behaviour { }

    public sealed class Transform : Component
    {
        public void SetParent(Transform parent, bool worldPositionStays) { }
    }

    public sealed class GameObject : Object
    {
        public GameObject(string name) { }
        public Transform transform { get { return null; } }
        public T AddComponent<T>() where T : Component { return default(T); }
    }

    public static class Debug
    {
        public static void Log(object message) { }
        public static void LogWarning(object message) { }
        public static void LogError(object message) { }
    }

    [AttributeUsage(AttributeTargets.Field)] public sealed class SerializeField : Attribute { }

    [AttributeUsage(AttributeTargets.Field)]
    public sealed class TooltipAttribute : Attribute { public TooltipAttribute(string tooltip) { } }

    [AttributeUsage(AttributeTargets.Class, AllowMultiple = true)]
    public sealed class RequireComponent : Attribute { public RequireComponent(Type requiredComponent) { } }

    [AttributeUsage(AttributeTargets.Class)]
    public sealed class AddComponentMenu : Attribute { public AddComponentMenu(string menuName) { } }

    [AttributeUsage(AttributeTargets.Class)] public sealed class DisallowMultipleComponent : Attribute { }

    [AttributeUsage(AttributeTargets.Method)]
    public sealed class ContextMenu : Attribute { public ContextMenu(string itemName) { } }

    public class AsyncOperation
    {
        public bool isDone { get { return true; } }
    }
}

namespace UnityEngine.Networking
{
    public class DownloadHandler
    {
        public string text { get { return ""; } }
    }

    public class UnityWebRequestAsyncOperation : AsyncOperation { }

    public class UnityWebRequest : IDisposable
    {
        public enum Result { InProgress, Success, ConnectionError, ProtocolError, DataProcessingError }

        public static UnityWebRequest Get(string uri) { return new UnityWebRequest(); }
        public UnityWebRequestAsyncOperation SendWebRequest() { return new UnityWebRequestAsyncOperation(); }
        public void SetRequestHeader(string name, string value) { }
        public Result result { get { return Result.Success; } }
        public string error { get { return null; } }
        public DownloadHandler downloadHandler { get { return null; } }
        public void Dispose() { }
    }
}

namespace AOT
{
    [AttributeUsage(AttributeTargets.Method)]
    public sealed class MonoPInvokeCallbackAttribute : Attribute { public MonoPInvokeCallbackAttribute(Type type) { } }
}

namespace Unity.Mathematics
{
    public struct double3
    {
        public double x, y, z;
        public double3(double x, double y, double z) { this.x = x; this.y = y; this.z = z; }
    }
}

namespace CesiumForUnity
{
    public enum CesiumDataSource { FromCesiumIon, FromUrl, FromEllipsoid }

    public class Cesium3DTileset : UnityEngine.MonoBehaviour
    {
        public string url { get; set; }
        public CesiumDataSource tilesetSource { get; set; }
        public void RecreateTileset() { }
    }

    public class CesiumGeoreference : UnityEngine.MonoBehaviour
    {
        public void SetOriginLongitudeLatitudeHeight(double longitude, double latitude, double height) { }
    }

    public class CesiumGlobeAnchor : UnityEngine.MonoBehaviour
    {
        public Unity.Mathematics.double3 longitudeLatitudeHeight { get; set; }
    }

    public abstract class CesiumRasterOverlay : UnityEngine.MonoBehaviour
    {
        public void Refresh() { }
    }

    public class CesiumUrlTemplateRasterOverlay : CesiumRasterOverlay
    {
        public string templateUrl { get; set; }
        public int maximumLevel { get; set; }
    }
}

namespace GLTFast
{
    public class ImportSettings { }

    public class GltfImport : IDisposable
    {
        public Task<bool> LoadGltfBinary(byte[] bytes, Uri uri = null, ImportSettings importSettings = null, CancellationToken cancellationToken = default(CancellationToken))
        {
            return Task.FromResult(true);
        }

        public Task<bool> InstantiateMainSceneAsync(UnityEngine.Transform parent, CancellationToken cancellationToken = default(CancellationToken))
        {
            return Task.FromResult(true);
        }

        public void Dispose() { }
    }
}
