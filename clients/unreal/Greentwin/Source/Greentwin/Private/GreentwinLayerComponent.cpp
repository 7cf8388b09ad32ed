// See GreentwinLayerComponent.h.
#include "GreentwinLayerComponent.h"

#include "Cesium3DTileset.h"
#include "CesiumGeoreference.h"
#include "CesiumUrlTemplateRasterOverlay.h"
#include "Engine/GameInstance.h"
#include "Engine/World.h"
#include "GameFramework/Actor.h"
#include "GreentwinSubsystem.h"

static UGreentwinSubsystem* FindSubsystem(const UActorComponent* Component)
{
	const UWorld* World = Component->GetWorld();
	UGameInstance* Instance = World != nullptr ? World->GetGameInstance() : nullptr;
	return Instance != nullptr ? Instance->GetSubsystem<UGreentwinSubsystem>() : nullptr;
}

void UGreentwinLayerComponent::BeginPlay()
{
	Super::BeginPlay();
	UGreentwinSubsystem* Greentwin = FindSubsystem(this);
	if (Greentwin == nullptr) { return; }
	Greentwin->OnLayerChanged.AddDynamic(this, &UGreentwinLayerComponent::ApplyLayer);
	Greentwin->OnWelcomed.AddDynamic(this, &UGreentwinLayerComponent::HandleWelcome);
	FString Url;
	FString Kind;
	if (Greentwin->GetLayerUrl(Layer, Url, Kind)) { ApplyLayer(Layer, Url, Kind); }
	double Lon = 0.0;
	double Lat = 0.0;
	double Height = 0.0;
	if (Greentwin->GetOrigin(Lon, Lat, Height)) { HandleWelcome(Lon, Lat, Height); }
}

void UGreentwinLayerComponent::EndPlay(const EEndPlayReason::Type Reason)
{
	if (UGreentwinSubsystem* Greentwin = FindSubsystem(this))
	{
		Greentwin->OnLayerChanged.RemoveDynamic(this, &UGreentwinLayerComponent::ApplyLayer);
		Greentwin->OnWelcomed.RemoveDynamic(this, &UGreentwinLayerComponent::HandleWelcome);
	}
	Super::EndPlay(Reason);
}

void UGreentwinLayerComponent::ApplyLayer(const FString& Name, const FString& Url, const FString& Kind)
{
	if (Name != Layer) { return; }
	AActor* Owner = GetOwner();
	if (Kind == TEXT("3dtiles"))
	{
		if (ACesium3DTileset* Tileset = Cast<ACesium3DTileset>(Owner))
		{
			if (Tileset->GetUrl() == Url) { return; }
			Tileset->SetTilesetSource(ETilesetSource::FromUrl);
			Tileset->SetUrl(Url);  // a new immutable URL per version: the tileset reloads
		}
	}
	else if (Kind == TEXT("overlay") && Owner != nullptr)
	{
		if (UCesiumUrlTemplateRasterOverlay* Overlay = Owner->FindComponentByClass<UCesiumUrlTemplateRasterOverlay>())
		{
			Overlay->TemplateUrl = Url;  // {z}/{x}/{y} XYZ Web Mercator tiles
			Overlay->Refresh();
		}
	}
}

void UGreentwinLayerComponent::HandleWelcome(double Longitude, double Latitude, double Height)
{
	if (!bSetGeoreferenceOrigin) { return; }
	if (ACesiumGeoreference* Georeference = ACesiumGeoreference::GetDefaultGeoreference(this))
	{
		Georeference->SetOriginLongitudeLatitudeHeight(FVector(Longitude, Latitude, Height));
	}
}
