// Unreal Engine actor following a greentwin/1 scenario over the engine's WebSockets module,
// loading glb models from binary frames with glTFRuntime. Not compiled in this repository.
// Build.cs dependencies: "WebSockets", "Json", "JsonUtilities", "glTFRuntime".
#pragma once

#include "CoreMinimal.h"
#include "GameFramework/Actor.h"
#include "GreentwinActor.generated.h"

class IWebSocket;

DECLARE_DYNAMIC_MULTICAST_DELEGATE_TwoParams(FGreentwinLayerChanged, const FString&, Layer, const FString&, Url);

UCLASS()
class AGreentwinActor : public AActor
{
    GENERATED_BODY()

public:
    /** ws://host:port/ws */
    UPROPERTY(EditAnywhere, Category = "Greentwin") FString Url = TEXT("ws://127.0.0.1:8080/ws");
    /** Bearer token from the operator; empty for a read-only viewer. */
    UPROPERTY(EditAnywhere, Category = "Greentwin") FString Token;
    UPROPERTY(EditAnywhere, Category = "Greentwin") FString Scenario = TEXT("baseline");

    /** A layer got a new immutable URL (point a Cesium for Unreal tileset at it). */
    UPROPERTY(BlueprintAssignable, Category = "Greentwin") FGreentwinLayerChanged OnLayerChanged;

    UFUNCTION(BlueprintCallable, Category = "Greentwin")
    void PlantTree(const FString& Species, double Lon, double Lat, double AgeYears);

    UFUNCTION(BlueprintCallable, Category = "Greentwin")
    void RequestTreeModel(const FString& Species, double AgeYears, int32 Lod);

protected:
    virtual void BeginPlay() override;
    virtual void EndPlay(const EEndPlayReason::Type Reason) override;

private:
    void Connect();
    void SendJson(const TSharedRef<FJsonObject>& Msg);
    void OnText(const FString& Text);
    void OnBinary(const void* Data, SIZE_T Size, SIZE_T BytesRemaining);
    void HandleGlb(const TArray<uint8>& Frame);
    FString NewRef();

    TSharedPtr<IWebSocket> Socket;
    TArray<uint8> BinaryBuffer;
    FString Epoch;
    TMap<FString, int64> Seq;
    int32 NextRef = 1;
    float RetryDelay = 1.0f;
};
