/* mh-test-util.h: helpers shared by the test programs */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* A fresh temporary directory, removed at exit unless MEDHEAD_KEEP_TMP is set. */
char *mh_test_make_tmpdir (const char *prefix);
void mh_test_rm_rf (const char *path);

/* Seeds for randomized tests: MEDHEAD_SEED replays one seed. */
guint32 mh_test_seed_from_env (guint32 fallback);

G_END_DECLS
