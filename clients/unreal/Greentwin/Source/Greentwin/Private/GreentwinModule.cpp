// The Greentwin runtime module (no start-up work: the subsystem connects on request).
#include "Modules/ModuleManager.h"

IMPLEMENT_MODULE(FDefaultModuleImpl, Greentwin)
