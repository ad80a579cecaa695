#!/bin/sh
# Creates the dynamic security plugin's file for rtcgate (see rtcgate-dynsec.conf), once, before
# mosquitto is first started with the plugin:
#   init-dynsec.sh <config-file> <rtcgate-password> [topic-prefix]
# e.g. init-dynsec.sh /var/lib/mosquitto/dynamic-security.json "$RTCGATE_BROKER_PASSWORD"
# The file then holds one broker client, `rtcgate` (the gateway, with <rtcgate-password>), one role
# `rtcgate-gateway` with exactly the rights a signaling gateway needs, and a default access of
# "deny" for everything no role grants. rtcgate adds a client and a role per device at run time.
# Needs mosquitto_ctrl (Debian: mosquitto-clients) and jq.

# Stop at the first failing command or unset variable.
set -eu

# The arguments: where to write the file, the gateway's broker password, and the topic prefix
# rtcgate runs with (its `signal-topic-prefix`, `rtc/v1` by default).
if [ $# -lt 2 ] || [ $# -gt 3 ]; then
  echo "usage: $0 <config-file> <rtcgate-password> [topic-prefix]" >&2
  exit 2
fi
config=$1
password=$2
prefix=${3:-rtc/v1}

# Never overwrite a live file: it holds every device's credentials. (mosquitto_ctrl refuses too,
# but exits 0 when it does.)
if [ -e "$config" ]; then
  echo "$0: $config already exists; remove it first to start from scratch" >&2
  exit 1
fi

# A prefix with MQTT wildcards would grant more than the gateway's topics.
case $prefix in
  *'+'* | *'#'* | '' | /* | */) echo "$0: invalid topic prefix '$prefix'" >&2; exit 2 ;;
esac

# Files made from here on are readable by their owner only (the file holds password hashes).
umask 077

# Work on a temporary file next to the target, so the target appears complete or not at all;
# remove it whatever happens.
tmp="$config.init.$$"
trap 'rm -f "$tmp" "$tmp.jq"' EXIT

# mosquitto_ctrl writes the initial file: the client `rtcgate` with a salted hash of the password
# and a role `admin` (dynsec administration, plus reading every topic). The password is on this
# command line, visible in `ps` for that instant: run this on the gateway itself, as root.
mosquitto_ctrl dynsec init "$tmp" rtcgate "$password" >/dev/null
[ -s "$tmp" ] || { echo "$0: mosquitto_ctrl dynsec init did not write $tmp" >&2; exit 1; }

# Rewrite roles and default access with jq ($p is the topic prefix):
# - the role `admin` is replaced by `rtcgate-gateway`, without `admin`'s read access to every
#   topic (`#`, `$SYS/#`): the gateway reads only what it serves;
# - the dynsec administration rights `admin` had: send commands on, subscribe to, receive from and
#   unsubscribe from `$CONTROL/dynamic-security/#` (commands and their responses);
# - subscribe to, receive and unsubscribe from every client's requests, `$p/up/#` (rtcgate
#   subscribes `$share/rtcgate/$p/up/+`) and every client's presence, `$p/status/#`; the plugin
#   (2.0.11) checks a shared subscription with its `$share/<group>/` prefix, so the shared filter
#   `$share/rtcgate/$p/up/#` needs grants of its own (its deliveries are checked as `$p/up/…`);
# - publish on every client's `$p/down/#` (replies and forwarded messages) and on `$p/status/_gw`
#   (the gateway's retained presence and its Last Will);
# - publish, subscribe, receive and unsubscribe on `$p/_cluster/#`, where several rtcgates on one
#   broker announce themselves (docs/scaling.md; give each instance its own client with this role);
# - the client `rtcgate` gets that role instead of `admin`;
# - defaultACLAccess: everything no role grants is denied (publish, delivery, subscribe and
#   unsubscribe; the plugin's own default lets every client receive and unsubscribe anything);
# - mosquitto_ctrl 2.0.11 names the client's description `textName`, which the plugin does not
#   read (it reads `textname`): the stray key is dropped.
jq --arg p "$prefix" '
  def acl(type; topic): {acltype: type, topic: topic, allow: true};
  .roles = [{
    rolename: "rtcgate-gateway",
    textname: "rtcgate signaling gateway",
    textdescription: "Dynsec administration; reads \($p)/up/# and \($p)/status/#, writes \($p)/down/# and \($p)/status/_gw, reads and writes \($p)/_cluster/# (several instances, docs/scaling.md). Devices get roles rtcgate-client-<id> (see device-role-template.json).",
    acls: [
      acl("publishClientSend"; "$CONTROL/dynamic-security/#"),
      acl("publishClientReceive"; "$CONTROL/dynamic-security/#"),
      acl("subscribePattern"; "$CONTROL/dynamic-security/#"),
      acl("unsubscribePattern"; "$CONTROL/dynamic-security/#"),
      acl("subscribePattern"; "\($p)/up/#"),
      acl("publishClientReceive"; "\($p)/up/#"),
      acl("unsubscribePattern"; "\($p)/up/#"),
      acl("subscribePattern"; "$share/rtcgate/\($p)/up/#"),
      acl("unsubscribePattern"; "$share/rtcgate/\($p)/up/#"),
      acl("subscribePattern"; "\($p)/status/#"),
      acl("publishClientReceive"; "\($p)/status/#"),
      acl("unsubscribePattern"; "\($p)/status/#"),
      acl("publishClientSend"; "\($p)/down/#"),
      acl("publishClientSend"; "\($p)/status/_gw"),
      acl("publishClientSend"; "\($p)/_cluster/#"),
      acl("publishClientReceive"; "\($p)/_cluster/#"),
      acl("subscribePattern"; "\($p)/_cluster/#"),
      acl("unsubscribePattern"; "\($p)/_cluster/#")
    ]
  }]
  | .clients |= map(if .username == "rtcgate"
                    then .roles = [{rolename: "rtcgate-gateway"}] | del(.textName) | .textname = "rtcgate signaling gateway"
                    else . end)
  | .defaultACLAccess = {publishClientSend: false, publishClientReceive: false, subscribe: false, unsubscribe: false}
' "$tmp" > "$tmp.jq"

# When run as root, hand the file to the `mosquitto` user: the plugin reads it, and rewrites it
# after every change, as that user (mosquitto started as root drops to it).
if [ "$(id -u)" = 0 ] && id mosquitto >/dev/null 2>&1; then
  chown mosquitto: "$tmp.jq"
fi

# Put the finished file in place (atomically, within one filesystem).
mv "$tmp.jq" "$config"

# The role template note: what rtcgate creates for each device it provisions.
cat <<NOTE
$config: broker client 'rtcgate' (role 'rtcgate-gateway'), everything else denied.
Devices are added by rtcgate: broker client <id> (username = the device id, generated password)
with its own role 'rtcgate-client-<id>' that grants only:
  publishClientSend                                    $prefix/up/<id>, $prefix/status/<id>
  subscribePattern, publishClientReceive, unsubscribePattern   $prefix/down/<id>, $prefix/status/_gw
(packaging/mosquitto/dynsec/device-role-template.json). Make sure the folder of $config is writable by mosquitto.
NOTE
