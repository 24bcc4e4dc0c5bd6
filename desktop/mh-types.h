/* mh-types.h: forward declarations of the desktop app's types */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _MhApplication MhApplication;
typedef struct _MhBedBoard MhBedBoard;
typedef struct _MhDemoNetwork MhDemoNetwork;
typedef struct _MhDispatchView MhDispatchView;
typedef struct _MhChatView MhChatView;
typedef struct _MhFindView MhFindView;
typedef struct _MhGridLayer MhGridLayer;
typedef struct _MhHospitalItem MhHospitalItem;
typedef struct _MhHospitalList MhHospitalList;
typedef struct _MhMapView MhMapView;
typedef struct _MhMbtilesSource MhMbtilesSource;
typedef struct _MhNetworkView MhNetworkView;
typedef struct _MhPreferencesWindow MhPreferencesWindow;
typedef struct _MhSetupWindow MhSetupWindow;
typedef struct _MhTransfersView MhTransfersView;
typedef struct _MhWindow MhWindow;

G_END_DECLS
