"""Dialects as data: everything that differs between the W800 firmware and ESP-AT.

Code asks the active `Profile` for a number or a string; it never branches on the
dialect's name.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    name: str
    #: AT+GMR lines, printed before OK (one must start with "AT version:")
    gmr: tuple[str, ...]
    #: commands answered like unknown ones (ERROR + ERR CODE 0x01090000)
    unsupported: frozenset[str]
    #: AT+CIPSEND / AT+CIPSENDEX <length> maximum
    max_send: int = 5760
    #: +IPD: at most this many data bytes per frame
    ipd_max: int = 2920
    #: passive receive window per link (AT+CIPRECVMODE=1)
    passive_window: int = 5760
    #: passthrough packetising: send when this many bytes are buffered ...
    passthrough_packet: int = 512
    #: ... or after this much silence (seconds)
    passthrough_interval: float = 0.030
    #: +++ guard time (silence before, after, and at most between the three '+')
    escape_guard: float = 0.030
    #: number of link IDs (0..max_links-1); the "all links" ID is max_links
    max_links: int = 5
    #: AT+CIPRECVLEN? field for a link that is not open ("" in the spec's example)
    recvlen_unused: str = ""
    #: AT+CIPV6 default
    cipv6_default: int = 1
    #: AT+CIPDNS defaults
    dns_defaults: tuple[str, ...] = ("208.67.222.222", "8.8.8.8")
    #: AT+CIPDNS takes (and shows) at most this many servers: the W800 spec's
    #: <"DNS IP1">, <"DNS IP2">; ESP-AT adds <"DNS IP3">
    max_dns: int = 2
    #: AT+CIPSNTPCFG default servers
    sntp_defaults: tuple[str, ...] = ("cn.ntp.org.cn", "ntp.sjtu.edu.cn", "us.pool.ntp.org")
    #: seconds from power-on / AT+RST until "ready"
    boot_time: float = 0.3
    #: seconds for AT+CWJAP: association, then DHCP
    join_time: float = 0.2
    dhcp_time: float = 0.1
    #: AT+CWJAP's <jap_timeout> default (seconds): how long a join that gets no
    #: answer (or no DHCP lease) waits before ``+CWJAP:1`` (ESP-AT: 15)
    join_timeout: float = 15.0
    #: seconds between the attempts to rejoin an AP that vanished, with AT+CWAUTOCONN=1
    #: (ESP-AT's AT+CWJAP <reconn_interval> default: 1 s)
    reconnect_interval: float = 1.0
    #: AT+CWJAP? when no AP is joined answers this line before OK (None: plain ERROR)
    cwjap_query_idle: str | None = "No AP"
    #: +CWLAP fields, in order; AT+CWLAPOPT's <print mask> bit i shows field i (its
    #: default, every bit set, shows them all)
    cwlap_fields: tuple[str, ...] = (
        "ecn",
        "ssid",
        "rssi",
        "mac",
        "channel",
        "freq_offset",
        "freqcal_val",
        "pairwise_cipher",
        "group_cipher",
        "bgn",
        "wps",
    )
    #: AT+CWLAPOPT's first parameter is <sort_enable> (ESP-AT; v3.x calls it
    #: <reserved>) before <print mask>; without it the mask comes first
    cwlapopt_sort: bool = True
    #: +CWLAP <bgn> of a simulated AP (802.11 b/g/n bits as the dialect numbers them)
    cwlap_bgn: int = 7
    #: the default SoftAP SSID: this and the last three bytes of the AP's MAC (upper
    #: case hex), unless the config gives one
    softap_ssid_prefix: str = "ESP_"
    #: AT+CIPAP turns the SoftAP's DHCP server off (AT+CWDHCP bit 1), as a static
    #: AT+CIPSTA turns the station's client off
    cipap_disables_dhcp: bool = True
    #: print ``+TIME_UPDATED`` when SNTP first sets the clock after AT+CIPSNTPCFG or
    #: power-on
    time_updated_urc: bool = False
    #: a failed AT+CWJAP prints ``+CWJAP:<code>`` before its ``ERROR``
    cwjap_fail_code: bool = True
    #: AT+CIPSTATUS ``STATUS:<n>`` before the station has started any join (after one
    #: that failed or dropped it is 5 in both tables)
    cipstatus_idle: int = 5
    #: default AT+UART_CUR / DEF: baud, data bits, stop bits, parity, flow control
    uart_default: tuple[int, int, int, int, int] = (115200, 8, 1, 0, 0)
    #: default station hostname
    hostname: str = "w800"
    #: the AT UART's receive buffer (bytes): what the module holds of the host's input
    #: while it is not reading (``--pacing both``); beyond it, bytes are lost unless RTS
    #: flow control holds the host off.  Sources are given with each dialect below.
    uart_rx_buffer: int = 1024


W800 = Profile(
    name="w800",
    gmr=(
        "AT version:2.1.0(w800at - W800 - Nov 24 2026 00:00:00)",
        "SDK version:W800 SDK v1.00.10",
        "compile time(w800at):Nov 24 2026 00:00:00",
        "Bin version:2.1.0(W800)",
    ),
    # The spec's "Not supported" (AT+CIPSENDL, AT+CIPSENDLCFG, AT+CIPFWVER, AT+CIUPDATE);
    # AT+SYSTIMESTAMP and AT+RFPOWER are in none of WinnerMicro's W800 AT command sets
    # nor its firmware's command table (wm_iot_sdk components/wm_atcmd/src/
    # wm_atcmd_sys.h registers AT, AT+RST, AT+RESTORE, AT+SYSSTORE, AT+SYSRAM,
    # AT+ASSERT; docs/en/component_guides/AT/System_AT.rst).
    unsupported=frozenset(
        {"+CIPSENDL", "+CIPSENDLCFG", "+CIPFWVER", "+CIUPDATE", "+SYSTIMESTAMP", "+RFPOWER"}
    ),
    max_send=5760,
    passthrough_packet=512,
    passthrough_interval=0.030,
    escape_guard=0.030,
    recvlen_unused="",
    cipv6_default=1,
    # WinnerMicro's W800 "Wi-Fi AT Command Set" (wm_iot_sdk
    # docs/en/component_guides/AT/Wi-Fi_AT.rst, AT+CWJAP) gives the failure as
    # ``ERROR`` alone and lists no <error code> parameter, where ESP-AT's page (which
    # it follows line by line otherwise) has ``+CWJAP:<error code>`` then ``ERROR``.
    cwjap_fail_code=False,
    # The same page: "+CWLAP:<ecn>,<ssid>,<rssi>,<mac>,<channel>,<pairwise_cipher>,
    # <group_cipher>,<bgn>,<wps>" (nine fields: no <freq_offset>, <freqcal_val>), print
    # mask default 0x1FF, "AT+CWLAPOPT=<print mask>[,<rssi filter>][,<authmode mask>]"
    # (no <sort_enable>), and <bgn> "bit 0: 802.11b/g, bit 2: 802.11n" (b/g/n: 5).
    cwlap_fields=(
        "ecn",
        "ssid",
        "rssi",
        "mac",
        "channel",
        "pairwise_cipher",
        "group_cipher",
        "bgn",
        "wps",
    ),
    cwlapopt_sort=False,
    cwlap_bgn=5,
    # The same page: "The default SSID varies by device as it is composed of the
    # device's MAC address" (no prefix given: ours is the chip's name); its AT+CIPAP has
    # no note on DHCP (its AT+CWDHCP note names AT+CIPSTA only), where ESP-AT's says "If
    # static IPv4 address is enabled, DHCP will be disabled".
    softap_ssid_prefix="W800_",
    cipap_disables_dhcp=False,
    hostname="w800",
    # WinnerMicro WM IoT SDK (the W800's ESP-AT-style AT firmware),
    # components/wm_atcmd/src/wm_atcmd_init.c: WM_ATCMD_UART_RX_BUF_SIZE 1024, the rx
    # buffer given to wm_drv_uart_init() for the AT UART.  (The older wm-sdk-w800
    # firmware, with WinnerMicro's own AT+SKCT command set, rings 4096 bytes:
    # include/driver/wm_uart.h TLS_UART_RX_BUF_SIZE.)
    uart_rx_buffer=1024,
)

ESP_AT = Profile(
    name="esp-at",
    gmr=(
        "AT version:3.4.0.0(w800at - ESP32 - Nov 24 2026 00:00:00)",
        "SDK version:v5.0.6",
        "compile time(w800at):Nov 24 2026 00:00:00",
        "Bin version:v3.4.0.0(WROOM-32)",
    ),
    unsupported=frozenset(),
    max_send=8192,
    passthrough_packet=2920,
    passthrough_interval=0.020,
    escape_guard=0.020,
    recvlen_unused="-1",
    cipv6_default=0,
    # ESP-AT v2.4 and later (docs/en/AT_Command_Set/TCP-IP_AT_Commands.rst, AT+CIPSTATUS
    # <stat>): "1: The ESP station is initialized, but not started a Wi-Fi connection
    # yet"; 5 is "started a Wi-Fi connection, but was not connected to an AP or
    # disconnected from an AP".  The w800 dialect (AT 2.1) keeps the older table's 5,
    # "not connected to an AP" (wire-format doc).
    cipstatus_idle=1,
    # ESP-AT docs/en/AT_Command_Set/TCP-IP_AT_Commands.rst, AT+CIPDNS:
    # "AT+CIPDNS=<enable>[,<"DNS IP1">,<"DNS IP2">,<"DNS IP3">]"
    max_dns=3,
    # ESP-AT docs/en/AT_Command_Set/index.rst, "ESP-AT Message Reports": "+TIME_UPDATED:
    # The system time has been updated. Only after sending the AT+CIPSNTPCFG command or
    # power on will this message be outputted if the module fetches a new time from the
    # SNTP server."  WinnerMicro's W800 pages do not have it.
    time_updated_urc=True,
    hostname="espressif",
    # espressif/esp-at, main/interface/include/at_uart.h: AT_UART_RX_BUFFER_SIZE 2048,
    # the rx ring buffer of uart_driver_install() for the AT port (ESP32 family; older
    # main/interface/uart/at_uart_task.c passes 2048 literally).  The UART's 128-byte
    # hardware FIFO in front of it is not counted.
    uart_rx_buffer=2048,
)

PROFILES: dict[str, Profile] = {p.name: p for p in (W800, ESP_AT)}


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown profile {name!r}; choose from {', '.join(PROFILES)}") from None
