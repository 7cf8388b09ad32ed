// Keeps its owner in step with one greentwin layer: an ACesium3DTileset's URL for a 3D Tiles
// layer ("city", "vegetation"), or the template of the owner's
// UCesiumUrlTemplateRasterOverlay for a map overlay ("noise_lden", "no2", ...). Optionally
// moves the level's CesiumGeoreference origin to where the server says the city is.
#pragma once

#include "Components/ActorComponent.h"
#include "CoreMinimal.h"

#include "GreentwinLayerComponent.generated.h"

UCLASS(ClassGroup = (Greentwin), meta = (BlueprintSpawnableComponent))
class GREENTWIN_API UGreentwinLayerComponent : public UActorComponent
{
	GENERATED_BODY()

public:
	/** city, vegetation (instanced trees), vegetation_baked, or an overlay layer. */
	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "Greentwin")
	FString Layer = TEXT("vegetation");

	/** Put the default CesiumGeoreference's origin at the city's origin from the welcome. */
	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "Greentwin")
	bool bSetGeoreferenceOrigin = false;

	/** Apply a layer's new URL now (bound to the subsystem's OnLayerChanged). */
	UFUNCTION(BlueprintCallable, Category = "Greentwin")
	void ApplyLayer(const FString& Name, const FString& Url, const FString& Kind);

protected:
	virtual void BeginPlay() override;
	virtual void EndPlay(const EEndPlayReason::Type Reason) override;

private:
	UFUNCTION()
	void HandleWelcome(double Longitude, double Latitude, double Height);
};
