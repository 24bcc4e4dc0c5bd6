/* mh-sync.h: the replicated store, in one include */
#pragma once

#include "mh-sync-types.h"
#include "mh-sync-error.h"
#include "mh-clock.h"
#include "mh-schema.h"
#include "mh-change.h"
#include "mh-codec.h"
#include "mh-store.h"
