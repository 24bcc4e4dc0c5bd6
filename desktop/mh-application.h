/* mh-application.h: the MedHead Emergency application */
#pragma once

#include <adwaita.h>

#include "mh-node.h"
#include "mh-types.h"

G_BEGIN_DECLS

#define MH_TYPE_APPLICATION (mh_application_get_type ())

G_DECLARE_FINAL_TYPE (MhApplication, mh_application, MH, APPLICATION, AdwApplication)

MhApplication *mh_application_new (void);
MhNode *mh_application_get_node (MhApplication *self);

/* Opens the node in data_dir and shows its main window. */
gboolean mh_application_open_station (MhApplication *self, const char *data_dir, GError **error);
/* Starts the demo network (MhDemoNetwork) and opens this app's station in
 * it: the setup window shows the progress, then the main window opens. The
 * network stops when the app quits. */
void mh_application_open_demo (MhApplication *self);
/* The running demo network, or NULL. */
MhDemoNetwork *mh_application_get_demo_network (MhApplication *self);
/* The folder of this app's station: set by --data-dir, else the default
 * (mh_default_data_dir). The setup assistant creates the station there. */
void mh_application_set_data_dir (MhApplication *self, const char *dir);
char *mh_application_dup_data_dir (MhApplication *self);
/* Sets up this station in its data folder (first run). */
gboolean mh_application_create_station (MhApplication *self, MhRole role,
                                        const char *hospital_id, const char *unit_id,
                                        const char *name, GError **error);
/* Shows the main window of the open node. */
void mh_application_show_main (MhApplication *self);

/* The default data directory: $XDG_DATA_HOME/medhead. */
char *mh_default_data_dir (void);
/* TRUE for a station's folder (*is_new FALSE) or a missing or empty one
 * (*is_new TRUE); FALSE (MH_NODE_ERROR_CONFIG) for a file or a folder
 * holding something else. */
gboolean mh_data_dir_check (const char *dir, gboolean *is_new, GError **error);
/* The demo registry file (data/demo/region-idf.json). */
char *mh_demo_registry_path (void);
/* Parses a registry file (medhead-registry/1). */
JsonNode *mh_load_registry (const char *path, GError **error);
/* Opens a single offline demo replica in dir, creating it (a hub named
 * "Demo station" with the demo registry imported) when it does not exist
 * yet. The app's --demo starts a live network instead (MhDemoNetwork). */
MhNode *mh_demo_open (const char *dir, GError **error);

G_END_DECLS
