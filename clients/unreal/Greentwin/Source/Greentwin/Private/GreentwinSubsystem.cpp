// See GreentwinSubsystem.h. Everything here runs on the game thread: the WebSockets and
// HTTP modules call back there, and the core session answers inside those callbacks.
#include "GreentwinSubsystem.h"

#include "CesiumGlobeAnchorComponent.h"
#include "Engine/World.h"
#include "GreentwinCore/Protocol.hpp"
#include "HttpModule.h"
#include "IWebSocket.h"
#include "Interfaces/IHttpRequest.h"
#include "Interfaces/IHttpResponse.h"
#include "Modules/ModuleManager.h"
#include "WebSocketsModule.h"
#include "glTFRuntimeAssetActor.h"
#include "glTFRuntimeFunctionLibrary.h"

#include <random>
#include <string>

DEFINE_LOG_CATEGORY_STATIC(LogGreentwin, Log, All);

const FString UGreentwinSubsystem::CityLayer = TEXT("city");
const FString UGreentwinSubsystem::DatedVegetationLayer = TEXT("vegetation_on_date");

namespace {

std::string ToStd(const FString& S) { return std::string(TCHAR_TO_UTF8(*S)); }

FString FromStd(const std::string& S) { return FString(UTF8_TO_TCHAR(S.c_str())); }

}  // namespace

FString UGreentwinSubsystem::Absolute(const FString& Path) const
{
	if (Path.StartsWith(TEXT("http://")) || Path.StartsWith(TEXT("https://"))) { return Path; }
	FString Base = ServerUrl;
	Base.RemoveFromEnd(TEXT("/"));
	return Base + Path;
}

void UGreentwinSubsystem::Connect(const FString& InServerUrl, const FString& InToken, const FString& Role, const FString& InScenario)
{
	Disconnect();
	ServerUrl = InServerUrl;
	Token = InToken;
	Scenario = InScenario;
	greentwin::Session::Callbacks Callbacks;
	Callbacks.on_welcome = [this](const greentwin::json& Welcome)
	{
		Attempt = 0;
		const auto It = Welcome.find("origin");
		if (It != Welcome.end() && It->is_object())
		{
			Origin = FVector(It->value("lon", 0.0), It->value("lat", 0.0), It->value("height", 0.0));
			bHasOrigin = true;
			OnWelcomed.Broadcast(Origin.X, Origin.Y, Origin.Z);
		}
	};
	Callbacks.on_layer = [this](const std::string& Sc, const std::string& Name, const greentwin::json& Info)
	{
		if (FromStd(Sc) == Scenario) { SetLayer(FromStd(Name), FromStd(Info.value("url", "")), FromStd(Info.value("kind", ""))); }
	};
	Callbacks.on_update = [this](const greentwin::json& Update)
	{
		OnUpdated.Broadcast(FromStd(Update.value("scenario", "")), Update.value("seq", static_cast<int64>(0)));
	};
	Callbacks.on_time = [this](const std::string& Sc, const greentwin::json& Time)
	{
		if (Sc.empty() || FromStd(Sc) == Scenario)
		{
			OnTimeChanged.Broadcast(FromStd(Sc), static_cast<int32>(Time.value("year", 0)), FromStd(Time.value("date", "")));
		}
	};
	Callbacks.on_error = [this](const greentwin::json& Error)
	{
		OnFailed.Broadcast(FString(), FromStd(Error.value("code", "")), FromStd(Error.value("message", "")));
	};
	Session = std::make_unique<greentwin::Session>(ToStd(Token), ToStd(Role), Callbacks);
	bWanted = true;
	FModuleManager::LoadModuleChecked<FWebSocketsModule>(TEXT("WebSockets"));
	TickHandle = FTSTicker::GetCoreTicker().AddTicker(FTickerDelegate::CreateUObject(this, &UGreentwinSubsystem::Tick), 0.5f);
	OpenSocket();
	Session->subscribe(ToStd(Scenario), [this](const greentwin::json*, const greentwin::ServerError* Error)
	{
		if (Error != nullptr) { OnFailed.Broadcast(FromStd(Error->ref), FromStd(Error->code), FromStd(Error->message)); }
	});
	FetchCityLayer();
}

void UGreentwinSubsystem::OpenSocket()
{
	FString WsUrl = ServerUrl;
	WsUrl.RemoveFromEnd(TEXT("/"));
	if (WsUrl.StartsWith(TEXT("https://"))) { WsUrl = TEXT("wss://") + WsUrl.RightChop(8); }
	else if (WsUrl.StartsWith(TEXT("http://"))) { WsUrl = TEXT("ws://") + WsUrl.RightChop(7); }
	WsUrl += TEXT("/ws");
	Socket = FWebSocketsModule::Get().CreateWebSocket(WsUrl);
	Socket->OnConnected().AddLambda([this]()
	{
		bOpen = true;
		TWeakPtr<IWebSocket> Weak = Socket;
		Session->connected([Weak](const std::string& Text)
		{
			if (TSharedPtr<IWebSocket> S = Weak.Pin()) { S->Send(FromStd(Text)); }
		});
	});
	Socket->OnMessage().AddLambda([this](const FString& Text)
	{
		try { Session->receive_text(ToStd(Text)); }
		catch (const std::exception& E) { UE_LOG(LogGreentwin, Warning, TEXT("greentwin: bad message: %s"), UTF8_TO_TCHAR(E.what())); }
	});
	Socket->OnBinaryMessage().AddLambda([this](const void* Data, SIZE_T Size, bool bIsLastFragment)
	{
		BinaryBuffer.Append(static_cast<const uint8*>(Data), static_cast<int32>(Size));
		if (!bIsLastFragment) { return; }
		try { Session->receive_binary(BinaryBuffer.GetData(), static_cast<std::size_t>(BinaryBuffer.Num())); }
		catch (const std::exception& E) { UE_LOG(LogGreentwin, Warning, TEXT("greentwin: bad binary frame: %s"), UTF8_TO_TCHAR(E.what())); }
		BinaryBuffer.Reset();
	});
	Socket->OnConnectionError().AddLambda([this](const FString& Error) { SocketLost(Error); });
	Socket->OnClosed().AddLambda([this](int32 Code, const FString& Reason, bool bWasClean) { SocketLost(Reason); });
	Socket->Connect();
}

void UGreentwinSubsystem::SocketLost(const FString& Reason)
{
	bOpen = false;
	BinaryBuffer.Reset();
	if (Session) { Session->disconnected(ToStd(Reason)); }
	if (!bWanted) { return; }
	static std::mt19937 Rng{std::random_device{}()};
	const double Delay = greentwin::backoff_seconds(Attempt++, 0.5, 30.0, std::uniform_real_distribution<double>(0.0, 1.0)(Rng));
	ReconnectAt = Clock + Delay;
	UE_LOG(LogGreentwin, Log, TEXT("greentwin: connection lost (%s), reconnecting in %.1f s"), *Reason, Delay);
}

bool UGreentwinSubsystem::Tick(float DeltaSeconds)
{
	Clock += DeltaSeconds;
	if (!Session) { return true; }
	if (bOpen && !Session->tick(Clock) && Socket.IsValid())
	{
		Socket->Close(4000, TEXT("heartbeat unanswered"));  // OnClosed reconnects
	}
	if (!bOpen && bWanted && ReconnectAt >= 0.0 && Clock >= ReconnectAt)
	{
		ReconnectAt = -1.0;
		OpenSocket();
	}
	return true;
}

void UGreentwinSubsystem::Disconnect()
{
	bWanted = false;
	if (TickHandle.IsValid())
	{
		FTSTicker::GetCoreTicker().RemoveTicker(TickHandle);
		TickHandle.Reset();
	}
	if (Socket.IsValid())
	{
		Socket->OnClosed().Clear();
		Socket->OnConnectionError().Clear();
		Socket->Close(1000, TEXT("bye"));
		Socket.Reset();
	}
	bOpen = false;
	Session.reset();
}

void UGreentwinSubsystem::Deinitialize()
{
	Disconnect();
	Super::Deinitialize();
}

void UGreentwinSubsystem::SetLayer(const FString& Layer, const FString& Path, const FString& Kind)
{
	if (Path.IsEmpty()) { return; }
	const FString Url = Absolute(Path);
	Layers.Add(Layer, TPair<FString, FString>(Url, Kind));
	OnLayerChanged.Broadcast(Layer, Url, Kind);
}

void UGreentwinSubsystem::FetchCityLayer()
{
	TSharedRef<IHttpRequest, ESPMode::ThreadSafe> Request = FHttpModule::Get().CreateRequest();
	Request->SetURL(Absolute(TEXT("/api/layers?scenario=") + FGenericPlatformHttp::UrlEncode(Scenario)));
	Request->SetVerb(TEXT("GET"));
	if (!Token.IsEmpty()) { Request->SetHeader(TEXT("Authorization"), TEXT("Bearer ") + Token); }
	Request->OnProcessRequestComplete().BindWeakLambda(this, [this](FHttpRequestPtr, FHttpResponsePtr Response, bool bOk)
	{
		if (!bOk || !Response.IsValid() || Response->GetResponseCode() != 200) { return; }
		const greentwin::json All = greentwin::json::parse(ToStd(Response->GetContentAsString()), nullptr, false);
		if (!All.is_object() || !All.contains("layers") || !All["layers"].contains("buildings")) { return; }
		const greentwin::json& City = All["layers"]["buildings"];
		if (City.value("kind", "") == "3dtiles") { SetLayer(CityLayer, FromStd(City.value("url", "")), TEXT("3dtiles")); }
	});
	Request->ProcessRequest();
}

static greentwin::Session::Reply AckReply(FGreentwinAcked* Acked, FGreentwinFailed* Failed)
{
	return [Acked, Failed](const greentwin::json* Ack, const greentwin::ServerError* Error)
	{
		if (Ack != nullptr) { Acked->Broadcast(FromStd(Ack->value("ref", "")), Ack->value("seq", static_cast<int64>(-1))); }
		else { Failed->Broadcast(FromStd(Error->ref), FromStd(Error->code), FromStd(Error->message)); }
	};
}

FString UGreentwinSubsystem::PlantTree(const FString& Species, double Longitude, double Latitude, double AgeYears)
{
	if (!Session) { return FString(); }
	const auto Op = greentwin::plant_tree(ToStd(Species), Longitude, Latitude, AgeYears);
	return FromStd(Session->edit(ToStd(Scenario), Op, AckReply(&OnAcked, &OnFailed)));
}

FString UGreentwinSubsystem::RemoveTree(const FString& TreeId)
{
	if (!Session) { return FString(); }
	const greentwin::json Op = {{"op", "remove_tree"}, {"id", ToStd(TreeId)}};
	return FromStd(Session->edit(ToStd(Scenario), Op, AckReply(&OnAcked, &OnFailed)));
}

FString UGreentwinSubsystem::EditJson(const FString& OpJson)
{
	if (!Session) { return FString(); }
	const greentwin::json Op = greentwin::json::parse(ToStd(OpJson), nullptr, false);
	if (!Op.is_object())
	{
		OnFailed.Broadcast(FString(), TEXT("bad_json"), TEXT("the op is not a JSON object"));
		return FString();
	}
	return FromStd(Session->edit(ToStd(Scenario), Op, AckReply(&OnAcked, &OnFailed)));
}

FString UGreentwinSubsystem::Undo()
{
	return Session ? FromStd(Session->undo(ToStd(Scenario), AckReply(&OnAcked, &OnFailed))) : FString();
}

FString UGreentwinSubsystem::Redo()
{
	return Session ? FromStd(Session->redo(ToStd(Scenario), AckReply(&OnAcked, &OnFailed))) : FString();
}

FString UGreentwinSubsystem::RequestTreeModel(const FString& Species, double AgeYears, int32 Lod, double Longitude, double Latitude, double Height)
{
	if (!Session) { return FString(); }
	const greentwin::json Model = {{"kind", "tree"}, {"species", ToStd(Species)}, {"age_years", AgeYears}};
	const FVector Place(Longitude, Latitude, Height);
	return FromStd(Session->request_glb(Model, Lod, [this, Place](const greentwin::GlbFrame* Frame, const greentwin::ServerError* Error)
	{
		if (Frame != nullptr) { SpawnModel(*Frame, Place); }
		else { OnFailed.Broadcast(FromStd(Error->ref), FromStd(Error->code), FromStd(Error->message)); }
	}));
}

void UGreentwinSubsystem::SpawnModel(const greentwin::GlbFrame& Frame, const FVector& LongitudeLatitudeHeight)
{
	UWorld* World = GetWorld();
	if (World == nullptr) { return; }
	TArray<uint8> Data;
	Data.Append(Frame.glb.data(), static_cast<int32>(Frame.glb.size()));
	FglTFRuntimeConfig Config;  // glb: Y up, metres; glTFRuntime converts to Unreal units
	UglTFRuntimeAsset* Asset = UglTFRuntimeFunctionLibrary::glTFLoadAssetFromData(Data, Config);
	if (Asset == nullptr) { return; }
	const FTransform Transform;
	AglTFRuntimeAssetActor* Actor = World->SpawnActorDeferred<AglTFRuntimeAssetActor>(AglTFRuntimeAssetActor::StaticClass(), Transform);
	if (Actor == nullptr) { return; }
	Actor->Asset = Asset;
	Actor->FinishSpawning(Transform);
	UCesiumGlobeAnchorComponent* Anchor = NewObject<UCesiumGlobeAnchorComponent>(Actor);
	Anchor->RegisterComponent();
	Anchor->MoveToLongitudeLatitudeHeight(LongitudeLatitudeHeight);
	OnModelSpawned.Broadcast(FromStd(Frame.header.value("ref", "")), Actor);
}

FString UGreentwinSubsystem::SetTime(int32 Year, const FString& MonthDay, bool bShared)
{
	if (!Session) { return FString(); }
	// the answer is a time message: on_time has raised OnTimeChanged for it already
	return FromStd(Session->set_time(Year, ToStd(MonthDay), bShared ? ToStd(Scenario) : std::string(),
		[this](const greentwin::json*, const greentwin::ServerError* Error)
	{
		if (Error != nullptr) { OnFailed.Broadcast(FromStd(Error->ref), FromStd(Error->code), FromStd(Error->message)); }
	}));
}

bool UGreentwinSubsystem::GetTime(int32& Year, FString& MonthDay) const
{
	const greentwin::json Time = Session ? Session->time_of(ToStd(Scenario)) : greentwin::json();
	if (!Time.is_object()) { return false; }
	Year = static_cast<int32>(Time.value("year", 0));
	MonthDay = FromStd(Time.value("date", ""));
	return true;
}

void UGreentwinSubsystem::LoadVegetationOnDate(const FString& Date, bool bBaked)
{
	std::string Day = ToStd(Date);
	if (Day.empty() && Session) { Day = greentwin::iso_date(Session->time_of(ToStd(Scenario))); }
	if (Day.empty())
	{
		OnFailed.Broadcast(FString(), TEXT("invalid_op"), TEXT("no date given and the scenario's time is not known yet"));
		return;
	}
	const std::string Base = greentwin::http_base(ToStd(ServerUrl));
	TSharedRef<IHttpRequest, ESPMode::ThreadSafe> Request = FHttpModule::Get().CreateRequest();
	Request->SetURL(FromStd(greentwin::vegetation_request_url(Base, Day, bBaked ? "baked" : "instanced", ToStd(Scenario))));
	Request->SetVerb(TEXT("GET"));
	if (!Token.IsEmpty()) { Request->SetHeader(TEXT("Authorization"), TEXT("Bearer ") + Token); }
	const FString Asked = FromStd(Day);
	Request->OnProcessRequestComplete().BindWeakLambda(this, [this, Base, Asked](FHttpRequestPtr, FHttpResponsePtr Response, bool bOk)
	{
		if (!bOk || !Response.IsValid() || Response->GetResponseCode() != 200)
		{
			OnFailed.Broadcast(FString(), TEXT("http"), TEXT("GET /api/vegetation failed"));
			return;
		}
		try
		{
			const std::string Url = greentwin::vegetation_tileset_url(Base, ToStd(Response->GetContentAsString()));
			SetLayer(DatedVegetationLayer, FromStd(Url), TEXT("3dtiles"));
			OnVegetationLoaded.Broadcast(Asked, FromStd(Url));
		}
		catch (const std::exception& E) { OnFailed.Broadcast(FString(), TEXT("bad_json"), FromStd(E.what())); }
	});
	Request->ProcessRequest();
}

bool UGreentwinSubsystem::GetLayerUrl(const FString& Layer, FString& Url, FString& Kind) const
{
	const TPair<FString, FString>* Found = Layers.Find(Layer);
	if (Found == nullptr) { return false; }
	Url = Found->Key;
	Kind = Found->Value;
	return true;
}

bool UGreentwinSubsystem::GetOrigin(double& Longitude, double& Latitude, double& Height) const
{
	Longitude = Origin.X;
	Latitude = Origin.Y;
	Height = Origin.Z;
	return bHasOrigin;
}

int64 UGreentwinSubsystem::GetSeq() const
{
	return Session ? Session->seq_of(ToStd(Scenario)) : -1;
}
