// The Greentwin runtime module: the engine-free greentwin/1 core (GreentwinCore/, plain
// C++17 with nlohmann-json) and the engine glue on Unreal's WebSockets and HTTP modules,
// Cesium for Unreal and glTFRuntime.
using System.IO;
using UnrealBuildTool;

public class Greentwin : ModuleRules
{
	public Greentwin(ReadOnlyTargetRules Target) : base(Target)
	{
		PCHUsage = PCHUsageMode.UseExplicitOrSharedPCHs;
		CppStandard = CppStandardVersion.Cpp17;
		// nlohmann-json reports parse errors by exception
		bEnableExceptions = true;
		// the header-only nlohmann-json (3.11), see Source/ThirdParty/nlohmann/README.md
		PublicSystemIncludePaths.Add(Path.Combine(ModuleDirectory, "..", "ThirdParty", "nlohmann", "include"));

		PublicDependencyModuleNames.AddRange(new string[]
		{
			"Core",
			"CoreUObject",
			"Engine",
			"WebSockets",
			"HTTP",
			"CesiumRuntime",
			"glTFRuntime",
		});
	}
}
