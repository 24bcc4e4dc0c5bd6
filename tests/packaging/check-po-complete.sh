#!/usr/bin/env bash
# Every translatable string of the files in po/POTFILES.in has a French
# translation in po/fr.po (not missing, not fuzzy, not empty).
#   check-po-complete.sh SOURCE_ROOT LANG...
set -u
root=$1; shift
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The keywords of meson's i18n 'glib' preset.
if ! xgettext --package-name=medhead-emergency -D "$root" -f "$root/po/POTFILES.in" \
    -o "$tmp/all.pot" --from-code=UTF-8 --add-comments \
    --keyword=_ --keyword=N_ --keyword=C_:1c,2 --keyword=NC_:1c,2 \
    --keyword=g_dcgettext:2 --keyword=g_dngettext:2,3 --keyword=g_dpgettext2:2c,3 \
    --flag=N_:1:pass-c-format --flag=C_:2:pass-c-format --flag=NC_:2:pass-c-format \
    --flag=g_dngettext:2:pass-c-format --flag=g_strdup_printf:1:c-format \
    --flag=g_string_printf:2:c-format --flag=g_string_append_printf:2:c-format \
    --flag=g_error_new:3:c-format --flag=g_set_error:4:c-format \
    --flag=g_markup_printf_escaped:1:c-format --flag=g_log:3:c-format \
    --flag=g_print:1:c-format --flag=g_printerr:1:c-format --flag=g_printf:1:c-format \
    --flag=g_fprintf:2:c-format --flag=g_sprintf:2:c-format --flag=g_snprintf:3:c-format \
    2>"$tmp/err"; then
  cat "$tmp/err"
  exit 1
fi
status=0
for lang in "$@"; do
  if msgcmp "$root/po/$lang.po" "$tmp/all.pot" >"$tmp/cmp" 2>&1; then
    echo "po/$lang.po: every string translated"
  else
    grep -v 'this message is not used' "$tmp/cmp"
    echo "po/$lang.po: strings without a translation (add them by hand at the end of the file)"
    status=1
  fi
done
exit $status
