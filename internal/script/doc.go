// Package script runs the commands keepalived.conf names (notify scripts,
// MISC_CHECK's misc_path, vrrp_script) as keepalived 2.2.7 does: argument
// vectors without a shell, the script user, enable_script_security's
// checks, their own process group, SIGTERM then SIGKILL.
package script
