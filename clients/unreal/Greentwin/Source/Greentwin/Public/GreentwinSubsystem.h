// The Unreal face of a greentwin/1 session: one per game instance. Connects over the
// engine's WebSockets module, follows one scenario, keeps the current URL of every layer
// (live ones from snapshots and updates, the city tileset from /api/layers), reconnects with
// back-off and resumes, and offers the edits to Blueprints. The protocol itself is the
// engine-free core in GreentwinCore/Protocol.hpp.
#pragma once

#include "Containers/Ticker.h"
#include "CoreMinimal.h"
#include "Subsystems/GameInstanceSubsystem.h"

#include <memory>

#include "GreentwinSubsystem.generated.h"

namespace greentwin {
class Session;
struct GlbFrame;
}  // namespace greentwin
class IWebSocket;

DECLARE_DYNAMIC_MULTICAST_DELEGATE_ThreeParams(FGreentwinLayerChanged, const FString&, Layer, const FString&, Url, const FString&, Kind);
DECLARE_DYNAMIC_MULTICAST_DELEGATE_TwoParams(FGreentwinUpdated, const FString&, Scenario, int64, Seq);
DECLARE_DYNAMIC_MULTICAST_DELEGATE_ThreeParams(FGreentwinWelcomed, double, Longitude, double, Latitude, double, Height);
DECLARE_DYNAMIC_MULTICAST_DELEGATE_ThreeParams(FGreentwinFailed, const FString&, Ref, const FString&, Code, const FString&, Message);
DECLARE_DYNAMIC_MULTICAST_DELEGATE_TwoParams(FGreentwinAcked, const FString&, Ref, int64, Seq);
DECLARE_DYNAMIC_MULTICAST_DELEGATE_TwoParams(FGreentwinModelSpawned, const FString&, Ref, AActor*, Actor);
DECLARE_DYNAMIC_MULTICAST_DELEGATE_ThreeParams(FGreentwinTimeChanged, const FString&, Scenario, int32, Year, const FString&, MonthDay);
DECLARE_DYNAMIC_MULTICAST_DELEGATE_TwoParams(FGreentwinVegetationLoaded, const FString&, Date, const FString&, Url);

UCLASS()
class GREENTWIN_API UGreentwinSubsystem : public UGameInstanceSubsystem
{
	GENERATED_BODY()

public:
	/** The city tileset's layer name here (the 3D Tiles "buildings" layer of /api/layers). */
	static const FString CityLayer;
	/** The layer LoadVegetationOnDate sets: the vegetation tileset of the date asked for. */
	static const FString DatedVegetationLayer;

	virtual void Deinitialize() override;

	/** Connect to http(s)://host:port (the WebSocket is its /ws) and follow a scenario. */
	UFUNCTION(BlueprintCallable, Category = "Greentwin")
	void Connect(const FString& ServerUrl, const FString& Token, const FString& Role, const FString& Scenario);

	UFUNCTION(BlueprintCallable, Category = "Greentwin")
	void Disconnect();

	/** Plant a tree (planner); answered by OnAcked or OnFailed with the returned ref. */
	UFUNCTION(BlueprintCallable, Category = "Greentwin|Edits")
	FString PlantTree(const FString& Species, double Longitude, double Latitude, double AgeYears);

	UFUNCTION(BlueprintCallable, Category = "Greentwin|Edits")
	FString RemoveTree(const FString& TreeId);

	/** Any op of docs/protocol.md as JSON, e.g. {"op": "close_road", "id": "main-ew"}. */
	UFUNCTION(BlueprintCallable, Category = "Greentwin|Edits")
	FString EditJson(const FString& OpJson);

	UFUNCTION(BlueprintCallable, Category = "Greentwin|Edits")
	FString Undo();

	UFUNCTION(BlueprintCallable, Category = "Greentwin|Edits")
	FString Redo();

	/** Ask for a tree model; it is spawned (glTFRuntime) at the place given, then OnModelSpawned. */
	UFUNCTION(BlueprintCallable, Category = "Greentwin|Models")
	FString RequestTreeModel(const FString& Species, double AgeYears, int32 Lod, double Longitude, double Latitude, double Height);

	/** Set the time (Year, MonthDay "MM-DD"). bShared: the scenario's shared time (planner),
	 * stored and broadcast to everyone following it; else this session's own. Answered by
	 * OnTimeChanged (also raised when someone else changes the scenario's time) or OnFailed. */
	UFUNCTION(BlueprintCallable, Category = "Greentwin|Time")
	FString SetTime(int32 Year, const FString& MonthDay, bool bShared);

	/** The scenario's time as last announced (snapshot or time broadcast). */
	UFUNCTION(BlueprintPure, Category = "Greentwin|Time")
	bool GetTime(int32& Year, FString& MonthDay) const;

	/** Fetch the vegetation tileset of a date (YYYY-MM-DD; empty: the scenario's time) with
	 * GET /api/vegetation (bBaked: every tree's mesh in its tile, no EXT_mesh_gpu_instancing);
	 * its URL becomes the layer DatedVegetationLayer ("vegetation_on_date"), then
	 * OnVegetationLoaded, or OnFailed. */
	UFUNCTION(BlueprintCallable, Category = "Greentwin|Time")
	void LoadVegetationOnDate(const FString& Date, bool bBaked);

	UFUNCTION(BlueprintPure, Category = "Greentwin")
	bool GetLayerUrl(const FString& Layer, FString& Url, FString& Kind) const;

	/** Where the server says the city is (from the welcome). */
	UFUNCTION(BlueprintPure, Category = "Greentwin")
	bool GetOrigin(double& Longitude, double& Latitude, double& Height) const;

	UFUNCTION(BlueprintPure, Category = "Greentwin")
	int64 GetSeq() const;

	UPROPERTY(BlueprintAssignable, Category = "Greentwin") FGreentwinLayerChanged OnLayerChanged;
	UPROPERTY(BlueprintAssignable, Category = "Greentwin") FGreentwinUpdated OnUpdated;
	UPROPERTY(BlueprintAssignable, Category = "Greentwin") FGreentwinWelcomed OnWelcomed;
	UPROPERTY(BlueprintAssignable, Category = "Greentwin") FGreentwinFailed OnFailed;
	UPROPERTY(BlueprintAssignable, Category = "Greentwin") FGreentwinAcked OnAcked;
	UPROPERTY(BlueprintAssignable, Category = "Greentwin") FGreentwinModelSpawned OnModelSpawned;
	UPROPERTY(BlueprintAssignable, Category = "Greentwin") FGreentwinTimeChanged OnTimeChanged;
	UPROPERTY(BlueprintAssignable, Category = "Greentwin") FGreentwinVegetationLoaded OnVegetationLoaded;

private:
	void OpenSocket();
	void SocketLost(const FString& Reason);
	bool Tick(float DeltaSeconds);
	void SetLayer(const FString& Layer, const FString& Path, const FString& Kind);
	void FetchCityLayer();
	void SpawnModel(const greentwin::GlbFrame& Frame, const FVector& LongitudeLatitudeHeight);
	FString Absolute(const FString& Path) const;

	TSharedPtr<IWebSocket> Socket;
	std::unique_ptr<greentwin::Session> Session;
	FTSTicker::FDelegateHandle TickHandle;
	FString ServerUrl;
	FString Token;
	FString Scenario;
	TMap<FString, TPair<FString, FString>> Layers;
	TArray<uint8> BinaryBuffer;
	bool bWanted = false;
	bool bOpen = false;
	int32 Attempt = 0;
	double ReconnectAt = -1.0;
	double Clock = 0.0;
	FVector Origin = FVector::ZeroVector;
	bool bHasOrigin = false;
};
