// See GreentwinActor.h and docs/protocol.md.
#include "GreentwinActor.h"

#include "Dom/JsonObject.h"
#include "IWebSocket.h"
#include "Serialization/JsonReader.h"
#include "Serialization/JsonSerializer.h"
#include "Serialization/JsonWriter.h"
#include "TimerManager.h"
#include "WebSocketsModule.h"
#include "glTFRuntimeFunctionLibrary.h"

void AGreentwinActor::BeginPlay()
{
    Super::BeginPlay();
    FModuleManager::LoadModuleChecked<FWebSocketsModule>(TEXT("WebSockets"));
    Connect();
}

void AGreentwinActor::EndPlay(const EEndPlayReason::Type Reason)
{
    if (Socket.IsValid()) { Socket->Close(1000, TEXT("bye")); }
    Super::EndPlay(Reason);
}

FString AGreentwinActor::NewRef() { return FString::Printf(TEXT("u%d"), NextRef++); }

void AGreentwinActor::Connect()
{
    Socket = FWebSocketsModule::Get().CreateWebSocket(Url);
    Socket->OnConnected().AddLambda([this]()
    {
        RetryDelay = 1.0f;
        TSharedRef<FJsonObject> Hello = MakeShared<FJsonObject>();
        Hello->SetStringField(TEXT("type"), TEXT("hello"));
        Hello->SetStringField(TEXT("protocol"), TEXT("greentwin/1"));
        if (!Token.IsEmpty()) { Hello->SetStringField(TEXT("token"), Token); }
        if (const int64* Last = Seq.Find(Scenario); Last && !Epoch.IsEmpty())
        {
            // resume: the server replays the missed updates or sends a snapshot
            TSharedRef<FJsonObject> Resume = MakeShared<FJsonObject>();
            Resume->SetStringField(TEXT("scenario"), Scenario);
            Resume->SetStringField(TEXT("epoch"), Epoch);
            Resume->SetNumberField(TEXT("seq"), static_cast<double>(*Last));
            Hello->SetObjectField(TEXT("resume"), Resume);
            SendJson(Hello);
            return;
        }
        SendJson(Hello);
        TSharedRef<FJsonObject> Sub = MakeShared<FJsonObject>();
        Sub->SetStringField(TEXT("type"), TEXT("subscribe"));
        Sub->SetStringField(TEXT("scenario"), Scenario);
        SendJson(Sub);
    });
    Socket->OnMessage().AddUObject(this, &AGreentwinActor::OnText);
    Socket->OnRawMessage().AddUObject(this, &AGreentwinActor::OnBinary);
    auto Retry = [this]()
    {
        FTimerHandle Handle;
        GetWorldTimerManager().SetTimer(Handle, [this]() { Connect(); }, RetryDelay, false);
        RetryDelay = FMath::Min(RetryDelay * 2.0f, 30.0f);
    };
    Socket->OnConnectionError().AddLambda([Retry](const FString&) { Retry(); });
    Socket->OnClosed().AddLambda([Retry](int32 Code, const FString&, bool) { if (Code != 1000) { Retry(); } });
    Socket->Connect();
}

void AGreentwinActor::SendJson(const TSharedRef<FJsonObject>& Msg)
{
    FString Out;
    TSharedRef<TJsonWriter<>> Writer = TJsonWriterFactory<>::Create(&Out);
    FJsonSerializer::Serialize(Msg, Writer);
    if (Socket.IsValid() && Socket->IsConnected()) { Socket->Send(Out); }
}

void AGreentwinActor::OnText(const FString& Text)
{
    TSharedPtr<FJsonObject> Msg;
    if (!FJsonSerializer::Deserialize(TJsonReaderFactory<>::Create(Text), Msg) || !Msg.IsValid()) { return; }
    const FString Type = Msg->GetStringField(TEXT("type"));
    if (Type == TEXT("welcome")) { Epoch = Msg->GetStringField(TEXT("epoch")); return; }
    if (Type == TEXT("error"))
    {
        UE_LOG(LogTemp, Warning, TEXT("greentwin %s: %s"), *Msg->GetStringField(TEXT("code")),
               *Msg->GetStringField(TEXT("message")));
        return;
    }
    if (Type != TEXT("snapshot") && Type != TEXT("update")) { return; }
    const FString Sc = Msg->GetStringField(TEXT("scenario"));
    const int64 S = static_cast<int64>(Msg->GetNumberField(TEXT("seq")));
    if (Type == TEXT("update"))
    {
        const int64* Last = Seq.Find(Sc);
        if (!Last || S <= *Last) { return; }          // duplicate or not subscribed
        if (S != *Last + 1)                          // gap: ask for a snapshot
        {
            Seq.Remove(Sc);
            TSharedRef<FJsonObject> Sub = MakeShared<FJsonObject>();
            Sub->SetStringField(TEXT("type"), TEXT("subscribe"));
            Sub->SetStringField(TEXT("scenario"), Sc);
            SendJson(Sub);
            return;
        }
    }
    Seq.Add(Sc, S);
    for (const auto& Pair : Msg->GetObjectField(TEXT("layers"))->Values)
    {
        OnLayerChanged.Broadcast(Pair.Key, Pair.Value->AsObject()->GetStringField(TEXT("url")));
    }
}

void AGreentwinActor::OnBinary(const void* Data, SIZE_T Size, SIZE_T BytesRemaining)
{
    BinaryBuffer.Append(static_cast<const uint8*>(Data), Size);
    if (BytesRemaining == 0)
    {
        HandleGlb(BinaryBuffer);
        BinaryBuffer.Reset();
    }
}

void AGreentwinActor::HandleGlb(const TArray<uint8>& Frame)
{
    // "GTB1" | uint32 LE header length n | JSON header | glb
    if (Frame.Num() < 8 || FMemory::Memcmp(Frame.GetData(), "GTB1", 4) != 0) { return; }
    uint32 N = 0;
    FMemory::Memcpy(&N, Frame.GetData() + 4, 4);  // little endian on every UE target
    if (8 + N > static_cast<uint32>(Frame.Num())) { return; }
    TArray<uint8> Glb(Frame.GetData() + 8 + N, Frame.Num() - 8 - N);
    FglTFRuntimeConfig Config;
    UglTFRuntimeAsset* Asset = UglTFRuntimeFunctionLibrary::glTFLoadAssetFromData(Glb, Config);
    if (Asset)
    {
        // spawn an AglTFRuntimeAssetActor (from glTFRuntime) with this asset where needed
        UE_LOG(LogTemp, Log, TEXT("greentwin: glb model loaded (%d bytes)"), Glb.Num());
    }
}

void AGreentwinActor::PlantTree(const FString& Species, double Lon, double Lat, double AgeYears)
{
    TSharedRef<FJsonObject> Op = MakeShared<FJsonObject>();
    Op->SetStringField(TEXT("op"), TEXT("plant_tree"));
    Op->SetStringField(TEXT("species"), Species);
    TArray<TSharedPtr<FJsonValue>> Pos = {MakeShared<FJsonValueNumber>(Lon), MakeShared<FJsonValueNumber>(Lat)};
    Op->SetArrayField(TEXT("position"), Pos);
    Op->SetNumberField(TEXT("age_years"), AgeYears);
    TSharedRef<FJsonObject> Msg = MakeShared<FJsonObject>();
    Msg->SetStringField(TEXT("type"), TEXT("edit"));
    Msg->SetStringField(TEXT("ref"), NewRef());
    Msg->SetStringField(TEXT("scenario"), Scenario);
    Msg->SetObjectField(TEXT("op"), Op);
    SendJson(Msg);
}

void AGreentwinActor::RequestTreeModel(const FString& Species, double AgeYears, int32 Lod)
{
    TSharedRef<FJsonObject> Obj = MakeShared<FJsonObject>();
    Obj->SetStringField(TEXT("kind"), TEXT("tree"));
    Obj->SetStringField(TEXT("species"), Species);
    Obj->SetNumberField(TEXT("age_years"), AgeYears);
    TSharedRef<FJsonObject> Msg = MakeShared<FJsonObject>();
    Msg->SetStringField(TEXT("type"), TEXT("request_glb"));
    Msg->SetStringField(TEXT("ref"), NewRef());
    Msg->SetNumberField(TEXT("lod"), Lod);
    Msg->SetObjectField(TEXT("object"), Obj);
    SendJson(Msg);
}
