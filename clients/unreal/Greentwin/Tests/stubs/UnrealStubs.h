// Declarations of the Unreal Engine, WebSockets, HTTP, Cesium for Unreal and glTFRuntime
// names the plugin's engine glue uses, with their signatures and no behaviour. The tests
// compile Source/Greentwin/Private/*.cpp against them with g++ (-fsyntax-only), so type and
// syntax errors in the glue are caught without the engine. TCHAR is char here; the reflection
// macros expand to nothing. Keep each declaration matching the real API it stands for.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

// --- reflection and module macros ---------------------------------------------------------
#define UCLASS(...)
#define USTRUCT(...)
#define UENUM(...)
#define UPROPERTY(...)
#define UFUNCTION(...)
#define GENERATED_BODY()
#define GREENTWIN_API
#define TEXT(x) x
#define TCHAR_TO_UTF8(x) (x)
#define UTF8_TO_TCHAR(x) (x)
#define THIRD_PARTY_INCLUDES_START
#define THIRD_PARTY_INCLUDES_END

using int32 = std::int32_t;
using int64 = long long;
using uint8 = std::uint8_t;
using SIZE_T = std::size_t;
using TCHAR = char;

namespace ue_stub {
[[gnu::format(printf, 1, 2)]] inline void Log(const char*, ...) {}
}  // namespace ue_stub
#define DEFINE_LOG_CATEGORY_STATIC(Name, Default, Compiled) [[maybe_unused]] static int Name = 0
#define UE_LOG(Category, Verbosity, Format, ...) ((void)Category, ::ue_stub::Log(Format, ##__VA_ARGS__))

// --- strings and containers ---------------------------------------------------------------
class FString {
public:
    FString() = default;
    FString(const char* s) : s_(s) {}
    explicit FString(std::string s) : s_(std::move(s)) {}
    const TCHAR* operator*() const { return s_.c_str(); }
    bool IsEmpty() const { return s_.empty(); }
    bool StartsWith(const FString& p) const { return s_.rfind(p.s_, 0) == 0; }
    bool RemoveFromEnd(const FString& p) {
        if (p.s_.size() > s_.size() || s_.compare(s_.size() - p.s_.size(), p.s_.size(), p.s_) != 0) return false;
        s_.resize(s_.size() - p.s_.size());
        return true;
    }
    FString RightChop(int32 n) const { return FString(s_.substr(static_cast<std::size_t>(n))); }
    FString& operator+=(const FString& o) { s_ += o.s_; return *this; }
    friend FString operator+(const FString& a, const FString& b) { return FString(a.s_ + b.s_); }
    friend FString operator+(const char* a, const FString& b) { return FString(a + b.s_); }
    bool operator==(const FString& o) const { return s_ == o.s_; }
    bool operator!=(const FString& o) const { return s_ != o.s_; }
    bool operator<(const FString& o) const { return s_ < o.s_; }
private:
    std::string s_;
};

template <class T>
class TArray {
public:
    void Append(const T* p, int32 n) { v_.insert(v_.end(), p, p + n); }
    void Reset() { v_.clear(); }
    int32 Num() const { return static_cast<int32>(v_.size()); }
    T* GetData() { return v_.data(); }
    const T* GetData() const { return v_.data(); }
private:
    std::vector<T> v_;
};

template <class K, class V>
struct TPair {
    TPair(K k, V v) : Key(std::move(k)), Value(std::move(v)) {}
    K Key;
    V Value;
};

template <class K, class V>
class TMap {
public:
    void Add(const K& k, const V& v) { m_.insert_or_assign(k, v); }
    V* Find(const K& k) { auto it = m_.find(k); return it == m_.end() ? nullptr : &it->second; }
    const V* Find(const K& k) const { auto it = m_.find(k); return it == m_.end() ? nullptr : &it->second; }
private:
    std::map<K, V> m_;
};

enum class ESPMode { NotThreadSafe, ThreadSafe };

template <class T, ESPMode M = ESPMode::ThreadSafe>
class TSharedPtr : public std::shared_ptr<T> {
public:
    using std::shared_ptr<T>::shared_ptr;
    TSharedPtr() = default;
    TSharedPtr(const std::shared_ptr<T>& p) : std::shared_ptr<T>(p) {}
    bool IsValid() const { return static_cast<bool>(*this); }
    void Reset() { this->reset(); }
};

template <class T, ESPMode M = ESPMode::ThreadSafe>
class TSharedRef : public std::shared_ptr<T> {
public:
    explicit TSharedRef(std::shared_ptr<T> p) : std::shared_ptr<T>(std::move(p)) {}
    operator TSharedPtr<T, M>() const { return TSharedPtr<T, M>(static_cast<const std::shared_ptr<T>&>(*this)); }
};

template <class T, ESPMode M = ESPMode::ThreadSafe>
class TWeakPtr {
public:
    TWeakPtr(const TSharedPtr<T, M>& p) : w_(p) {}
    TSharedPtr<T, M> Pin() const { return TSharedPtr<T, M>(w_.lock()); }
private:
    std::weak_ptr<T> w_;
};

struct FVector {
    double X = 0, Y = 0, Z = 0;
    FVector() = default;
    FVector(double x, double y, double z) : X(x), Y(y), Z(z) {}
    static const FVector ZeroVector;
};
inline const FVector FVector::ZeroVector{};

struct FTransform {};

// --- events and delegates -----------------------------------------------------------------
template <class... Args>
class TEvent {
public:
    template <class F>
    void AddLambda(F f) {
        static_assert(std::is_invocable_v<F, Args...>, "lambda does not fit the event's signature");
        fns_.emplace_back(std::move(f));
    }
    void Clear() { fns_.clear(); }
private:
    std::vector<std::function<void(Args...)>> fns_;
};

template <class... Args>
class TDynamicMulticast {
public:
    void Broadcast(Args... args) const { (void)sizeof...(args); }
    template <class U>
    void Internal_AddDynamic(U*, void (U::*)(Args...)) {}
    template <class U>
    void Internal_RemoveDynamic(U*, void (U::*)(Args...)) {}
};
#define AddDynamic(Object, Function) Internal_AddDynamic(Object, Function)
#define RemoveDynamic(Object, Function) Internal_RemoveDynamic(Object, Function)
#define DECLARE_DYNAMIC_MULTICAST_DELEGATE_OneParam(Name, T1, N1) struct Name : TDynamicMulticast<T1> {}
#define DECLARE_DYNAMIC_MULTICAST_DELEGATE_TwoParams(Name, T1, N1, T2, N2) struct Name : TDynamicMulticast<T1, T2> {}
#define DECLARE_DYNAMIC_MULTICAST_DELEGATE_ThreeParams(Name, T1, N1, T2, N2, T3, N3) struct Name : TDynamicMulticast<T1, T2, T3> {}

// --- objects ------------------------------------------------------------------------------
class UClass {};
class UWorld;

class UObject {
public:
    using Super = UObject;
    virtual ~UObject() = default;
    virtual UWorld* GetWorld() const { return nullptr; }
};

template <class T>
T* Cast(UObject* o) { return dynamic_cast<T*>(o); }

template <class T>
T* NewObject(UObject* outer) { (void)outer; return new T(); }

namespace EEndPlayReason {
enum Type { Destroyed, LevelTransition, EndPlayInEditor, RemovedFromWorld, Quit };
}

class UActorComponent;

class AActor : public UObject {
public:
    using Super = AActor;
    template <class T>
    T* FindComponentByClass() const { return nullptr; }
    void FinishSpawning(const FTransform&) {}
};

class UActorComponent : public UObject {
public:
    using Super = UActorComponent;
    virtual void BeginPlay() {}
    virtual void EndPlay(const EEndPlayReason::Type) {}
    AActor* GetOwner() const { return nullptr; }
    void RegisterComponent() {}
};

class UGameInstance : public UObject {
public:
    template <class T>
    T* GetSubsystem() const { return nullptr; }
};

class UWorld : public UObject {
public:
    UGameInstance* GetGameInstance() const { return nullptr; }
    template <class T>
    T* SpawnActorDeferred(UClass*, const FTransform&) { return nullptr; }
};

class UGameInstanceSubsystem : public UObject {
public:
    using Super = UGameInstanceSubsystem;
    virtual void Deinitialize() {}
};

// --- modules and ticker -------------------------------------------------------------------
class IModuleInterface {
public:
    virtual ~IModuleInterface() = default;
};
class FDefaultModuleImpl : public IModuleInterface {};
#define IMPLEMENT_MODULE(Impl, Name) [[maybe_unused]] static Impl Name##ModuleInstance;

class FModuleManager {
public:
    template <class T>
    static T& LoadModuleChecked(const TCHAR*) { static T module; return module; }
};

class FTickerDelegate {
public:
    template <class U>
    static FTickerDelegate CreateUObject(U*, bool (U::*)(float)) { return {}; }
};

class FTSTicker {
public:
    class FDelegateHandle {
    public:
        bool IsValid() const { return false; }
        void Reset() {}
    };
    static FTSTicker& GetCoreTicker() { static FTSTicker t; return t; }
    FDelegateHandle AddTicker(const FTickerDelegate&, float) { return {}; }
    void RemoveTicker(FDelegateHandle) {}
};

// --- WebSockets -----------------------------------------------------------------------------
class IWebSocket {
public:
    virtual ~IWebSocket() = default;
    void Connect() {}
    void Close(int32 Code = 1000, const FString& Reason = FString()) { (void)Code; (void)Reason; }
    bool IsConnected() { return false; }
    void Send(const FString&) {}
    void Send(const void*, SIZE_T, bool bIsBinary = false) { (void)bIsBinary; }
    TEvent<>& OnConnected() { return connected_; }
    TEvent<const FString&>& OnConnectionError() { return error_; }
    TEvent<int32, const FString&, bool>& OnClosed() { return closed_; }
    TEvent<const FString&>& OnMessage() { return message_; }
    TEvent<const void*, SIZE_T, bool>& OnBinaryMessage() { return binary_; }
private:
    TEvent<> connected_;
    TEvent<const FString&> error_;
    TEvent<int32, const FString&, bool> closed_;
    TEvent<const FString&> message_;
    TEvent<const void*, SIZE_T, bool> binary_;
};

class FWebSocketsModule : public IModuleInterface {
public:
    static FWebSocketsModule& Get() { static FWebSocketsModule m; return m; }
    TSharedRef<IWebSocket> CreateWebSocket(const FString& Url, const FString& Protocol = FString()) {
        (void)Url; (void)Protocol;
        return TSharedRef<IWebSocket>(std::make_shared<IWebSocket>());
    }
};

// --- HTTP -----------------------------------------------------------------------------------
class IHttpResponse {
public:
    int32 GetResponseCode() const { return 200; }
    FString GetContentAsString() const { return FString(); }
};
class IHttpRequest;
using FHttpRequestPtr = TSharedPtr<IHttpRequest, ESPMode::ThreadSafe>;
using FHttpResponsePtr = TSharedPtr<IHttpResponse, ESPMode::ThreadSafe>;

class FHttpRequestCompleteDelegate {
public:
    template <class F>
    void BindWeakLambda(UObject*, F f) {
        static_assert(std::is_invocable_v<F, FHttpRequestPtr, FHttpResponsePtr, bool>, "lambda does not fit");
        (void)f;
    }
};

class IHttpRequest {
public:
    void SetURL(const FString&) {}
    void SetVerb(const FString&) {}
    void SetHeader(const FString&, const FString&) {}
    FHttpRequestCompleteDelegate& OnProcessRequestComplete() { return done_; }
    bool ProcessRequest() { return true; }
private:
    FHttpRequestCompleteDelegate done_;
};

class FHttpModule {
public:
    static FHttpModule& Get() { static FHttpModule m; return m; }
    TSharedRef<IHttpRequest, ESPMode::ThreadSafe> CreateRequest() {
        return TSharedRef<IHttpRequest, ESPMode::ThreadSafe>(std::make_shared<IHttpRequest>());
    }
};

struct FGenericPlatformHttp {
    static FString UrlEncode(const FString& s) { return s; }
};

// --- glTFRuntime ----------------------------------------------------------------------------
struct FglTFRuntimeConfig {};
class UglTFRuntimeAsset : public UObject {};
class UglTFRuntimeFunctionLibrary {
public:
    static UglTFRuntimeAsset* glTFLoadAssetFromData(const TArray<uint8>& Data, const FglTFRuntimeConfig& LoaderConfig) {
        (void)Data; (void)LoaderConfig;
        return nullptr;
    }
};
class AglTFRuntimeAssetActor : public AActor {
public:
    static UClass* StaticClass() { static UClass c; return &c; }
    UglTFRuntimeAsset* Asset = nullptr;
};

// --- Cesium for Unreal ----------------------------------------------------------------------
enum class ETilesetSource : uint8 { FromCesiumIon, FromUrl, FromEllipsoid };

class ACesium3DTileset : public AActor {
public:
    const FString& GetUrl() const { return url_; }
    void SetUrl(const FString& InUrl) { url_ = InUrl; }
    void SetTilesetSource(ETilesetSource) {}
private:
    FString url_;
};

class ACesiumGeoreference : public AActor {
public:
    static ACesiumGeoreference* GetDefaultGeoreference(const UObject* WorldContextObject) {
        (void)WorldContextObject;
        return nullptr;
    }
    void SetOriginLongitudeLatitudeHeight(const FVector&) {}
};

class UCesiumRasterOverlay : public UActorComponent {
public:
    void Refresh() {}
};

class UCesiumUrlTemplateRasterOverlay : public UCesiumRasterOverlay {
public:
    FString TemplateUrl;
};

class UCesiumGlobeAnchorComponent : public UActorComponent {
public:
    void MoveToLongitudeLatitudeHeight(const FVector&) {}
};
