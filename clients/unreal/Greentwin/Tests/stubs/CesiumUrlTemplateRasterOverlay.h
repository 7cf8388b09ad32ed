// Stub: see UnrealStubs.h.
#pragma once
#include "UnrealStubs.h"
