-- DNS blocklists as data: which zones mxdiag asks, what each answer means,
-- which answers are errors, where to ask for removal, and the test points
-- that must answer correctly before any verdict from that list is believed.
--
-- A site overrides this whole file with its own lib/dnsbl_catalog.lua in a
-- rules directory (--rules-dir DIR, /etc/mxdiag/rules.d): copy it, edit it.
--
-- Fields of a list:
--   id        short stable identifier (evidence, site overrides)
--   name      human name
--   zone      DNS zone queried
--   kind      list of subject kinds served: "ip4", "ip6", "domain"
--   codes     answer address -> { meaning=, severity=?, scope=?, policy=?, advice=? }
--             severity: of the dnsbl.listed finding (default "crit");
--             scope = "network": the list names your provider's range, not
--             your address (dnsbl.network_listed);
--             policy = true: the listing states a policy about the range
--             (Spamhaus PBL: "must not send directly to MX hosts"), not bad
--             behaviour; advice: what to do instead of "find and fix the cause"
--   keyed_zone  zone to ask instead of `zone` when a key is configured
--             (--dnsbl-key / dnsbl_key): queried as KEY.<keyed_zone>. The
--             rules write the key as the placeholder label `key_label` below;
--             only the engine puts the real key on the wire, so the key never
--             shows in output, findings, traces or recordings.
--   usage     documented free-use limits: { queries_per_day=, connections_per_day=,
--             terms= } (mxdiag batch warns before a run that would exceed them)
--   errors    answer address -> meaning. An error answer is never "listed":
--             the list refused to answer (dnsbl.unreliable, unknown).
--             Every 127.255.255.0/24 answer is treated as an error too.
--   delist    where to look up and request removal
--   note      shown with every finding of this list (e.g. registration)
--   test      RFC 5782 test points: { listed = {...}, unlisted = {...} }
--             A list is trusted for this run only if every "listed" point
--             answers a code from `codes` and every "unlisted" point answers
--             NXDOMAIN.
--
-- Not included: SORBS (shut down in June 2024; its zones must not be
-- trusted whatever they answer).
--
-- Spamhaus Data Query Service (DQS): Spamhaus gives a free DQS key under the
-- same terms as its public mirrors (non-commercial use, low volume; source:
-- Spamhaus "Data Query Service" / "Free Data Query Service" pages and the
-- "Using our public mirrors? Check your return codes now" notice, 2022). The
-- key goes into the zone name: KEY.zen.dq.spamhaus.net, KEY.dbl.dq.spamhaus.net.
-- With --dnsbl-key (config key dnsbl_key) mxdiag asks those zones; the key is
-- a secret and mxdiag never prints it.
local M = {}

-- The label the rules write where the key goes; the engine (dnsbl.lookup)
-- replaces it by the configured key only in the packet it sends.
M.key_label = "mxdiag-dnsbl-key"

-- Spamhaus public mirrors: free only for non-commercial use with fewer than
-- 100,000 SMTP connections and 300,000 DNSBL queries a day (Spamhaus "Public
-- Mirror Usage Terms"/"Fair Use Policy"); DQS free accounts have the same terms.
local spamhaus_usage = { queries_per_day = 300000, connections_per_day = 100000,
  terms = "Spamhaus public mirrors and free DQS: non-commercial use only, fewer than 100,000 SMTP connections "
    .. "and 300,000 queries a day (Spamhaus Fair Use Policy); above that, a paid Spamhaus data feed" }

local spamhaus_errors = {
  ["127.255.255.252"] = "typing error in the DNSBL name (Spamhaus: query to a malformed zone)",
  -- Spamhaus documents .254 for queries via public/open resolvers, and (since
  -- 2024) for resolvers without attributable reverse DNS, which includes the
  -- shared resolvers of several large cloud providers (Spamhaus "DNSBL error
  -- codes" / "Public mirrors: blocked resolvers" documentation).
  ["127.255.255.254"] = "query refused: it came through a public/open resolver, or a resolver whose address "
    .. "has no attributable reverse DNS (several large clouds' resolvers are refused since 2024); run your own "
    .. "recursive resolver (with a reverse DNS name that names you), or use Spamhaus DQS: a free key under the "
    .. "same terms as the public mirrors (https://www.spamhaus.com/free-trial/sign-up-for-a-free-data-query-service-account/), "
    .. "given to mxdiag with --dnsbl-key or dnsbl_key in the configuration file",
  ["127.255.255.255"] = "query refused: excessive number of queries from this resolver (rate-limited)",
}

M.lists = {
  {
    id = "spamhaus-zen",
    name = "Spamhaus ZEN",
    zone = "zen.spamhaus.org",
    keyed_zone = "zen.dq.spamhaus.net",
    kind = { "ip4", "ip6" },
    -- Return codes as Spamhaus documents them ("DNSBL return codes", Spamhaus
    -- technical documentation, docs.spamhaus.com): 127.0.0.5-7 are not used
    -- (the XBL answers 127.0.0.4 only); EDROP was merged into DROP in 2024,
    -- which answers 127.0.0.9; the Botnet Controller List answers 127.0.0.30.
    codes = {
      ["127.0.0.2"] = { meaning = "SBL: Spamhaus Blocklist, a verified spam source or spam operation" },
      ["127.0.0.3"] = { meaning = "SBL CSS: low-reputation address sending snowshoe or bulk spam" },
      ["127.0.0.4"] = { meaning = "XBL: exploited host (malware, botnet, open proxy) seen sending spam" },
      ["127.0.0.9"] = { meaning = "DROP: hijacked or criminal netblock, do not route or peer (EDROP was merged "
        .. "into DROP in 2024)" },
      -- PBL: a policy listing, "this range should not deliver unauthenticated
      -- mail directly to any MX" (Spamhaus "PBL" page and PBL FAQ). For a
      -- sender that does deliver directly it is a block (crit); the remedy is a
      -- smarthost, or removal when it really is a mail server (PBL removal is
      -- self-service for that case).
      ["127.0.0.10"] = { policy = true,
        meaning = "PBL (listed by the ISP): end-user range that must not send mail directly to MX hosts",
        advice = "Relay through your provider's smarthost (authenticated submission), or have the range removed "
          .. "from the PBL if this is a real mail server (ask your ISP: it put the range there)" },
      ["127.0.0.11"] = { policy = true,
        meaning = "PBL (listed by Spamhaus): end-user/dynamic range that must not send mail directly to MX hosts",
        advice = "Relay through your provider's smarthost (authenticated submission), or have the range removed "
          .. "from the PBL if this is a real mail server (self-service at https://check.spamhaus.org/)" },
      ["127.0.0.30"] = { meaning = "BCL: Botnet Controller List, the address hosts a botnet command-and-control "
        .. "server" },
    },
    errors = spamhaus_errors,
    delist = "https://check.spamhaus.org/ (PBL: self-service removal if this is a real mail server; "
      .. "SBL/CSS/XBL/BCL: fix the cause first, then follow the listing's page)",
    usage = spamhaus_usage,
    -- RFC 5782 section 5: IPv4 lists answer 127.0.0.2 and not 127.0.0.1; IPv6
    -- lists answer ::FFFF:7F00:2 and not ::FFFF:7F00:1, so IPv6 verdicts rest
    -- on an IPv6 test (queried as 32 nibbles, not folded to IPv4).
    test = { listed = { "127.0.0.2" }, unlisted = { "127.0.0.1" },
             listed6 = { "::ffff:7f00:2" }, unlisted6 = { "::ffff:7f00:1" } },
  },
  {
    id = "spamhaus-dbl",
    name = "Spamhaus DBL",
    zone = "dbl.spamhaus.org",
    keyed_zone = "dbl.dq.spamhaus.net",
    kind = { "domain" },
    codes = {
      ["127.0.1.2"] = { meaning = "spam domain" },
      ["127.0.1.4"] = { meaning = "phishing domain" },
      ["127.0.1.5"] = { meaning = "malware domain" },
      ["127.0.1.6"] = { meaning = "botnet command-and-control domain" },
      ["127.0.1.102"] = { severity = "warn", meaning = "abused legitimate domain (spam)" },
      ["127.0.1.103"] = { severity = "warn", meaning = "abused legitimate domain: spammed redirector or URL shortener" },
      ["127.0.1.104"] = { severity = "warn", meaning = "abused legitimate domain (phishing)" },
      ["127.0.1.105"] = { severity = "warn", meaning = "abused legitimate domain (malware)" },
      ["127.0.1.106"] = { severity = "warn", meaning = "abused legitimate domain (botnet C&C)" },
    },
    errors = {
      ["127.0.1.255"] = "an IP address was queried against this domain list: the answer means nothing",
      ["127.255.255.252"] = spamhaus_errors["127.255.255.252"],
      ["127.255.255.254"] = spamhaus_errors["127.255.255.254"],
      ["127.255.255.255"] = spamhaus_errors["127.255.255.255"],
    },
    delist = "https://check.spamhaus.org/ (look up the domain, then request removal)",
    usage = spamhaus_usage,
    -- DBL documents dbltest.com as its listed test point; "invalid" is the
    -- RFC 5782 name that must never be listed.
    test = { listed = { "dbltest.com" }, unlisted = { "invalid" } },
  },
  {
    id = "spamcop",
    name = "SpamCop",
    zone = "bl.spamcop.net",
    kind = { "ip4" },
    codes = { ["127.0.0.2"] = { severity = "warn", meaning = "reported by SpamCop users as a spam source (recent reports)" } },
    errors = {},
    delist = "https://www.spamcop.net/bl.shtml (listings expire by themselves about 24 h after the last report)",
    test = { listed = { "127.0.0.2" }, unlisted = { "127.0.0.1" } },
  },
  {
    id = "barracuda",
    name = "Barracuda Reputation Block List",
    zone = "b.barracudacentral.org",
    kind = { "ip4" },
    codes = { ["127.0.0.2"] = { meaning = "poor reputation in Barracuda's sender reputation system" } },
    errors = {},
    delist = "https://www.barracudacentral.org/rbl/removal-request",
    note = "Barracuda answers only resolvers registered (free) at https://www.barracudacentral.org/account/register; "
      .. "unregistered resolvers get no or empty answers, which the test points reveal.",
    test = { listed = { "127.0.0.2" }, unlisted = { "127.0.0.1" } },
  },
  {
    id = "uceprotect-1",
    name = "UCEPROTECT Level 1",
    zone = "dnsbl-1.uceprotect.net",
    kind = { "ip4" },
    -- UCEPROTECT "Level 1" page: an address is listed for hits on its spam
    -- traps, and also for backscatter (bounces or auto-replies to forged
    -- senders), sender callouts (verification probes) and SMTP dictionary
    -- attacks reaching its traps.
    codes = { ["127.0.0.2"] = { severity = "warn", meaning = "this single address hit UCEPROTECT spam traps (spam, "
      .. "backscatter of bounces or auto-replies to forged senders, sender-verification callouts, or dictionary "
      .. "attacks)" } },
    errors = {},
    delist = "https://www.uceprotect.net/en/rblcheck.php (Level 1 expires 7 days after the last trap hit)",
    test = { listed = { "127.0.0.2" }, unlisted = { "127.0.0.1" } },
  },
  {
    id = "uceprotect-2",
    name = "UCEPROTECT Level 2",
    zone = "dnsbl-2.uceprotect.net",
    kind = { "ip4" },
    codes = { ["127.0.0.2"] = { severity = "warn", scope = "network",
      meaning = "your provider's allocation (the network around this address) has too many Level 1 listings" } },
    errors = {},
    delist = "https://www.uceprotect.net/en/rblcheck.php (Level 2 is about the provider's range: only the provider "
      .. "cleaning it up removes it)",
    test = { listed = { "127.0.0.2" }, unlisted = { "127.0.0.1" } },
  },
  {
    id = "uceprotect-3",
    name = "UCEPROTECT Level 3",
    zone = "dnsbl-3.uceprotect.net",
    kind = { "ip4" },
    codes = { ["127.0.0.2"] = { severity = "warn", scope = "network",
      meaning = "your provider's whole autonomous system (ASN) has too many Level 1 listings" } },
    errors = {},
    delist = "https://www.uceprotect.net/en/rblcheck.php (Level 3 is about the provider's ASN: only the provider "
      .. "can fix it)",
    test = { listed = { "127.0.0.2" }, unlisted = { "127.0.0.1" } },
  },
  {
    id = "psbl",
    name = "Passive Spam Block List (PSBL)",
    zone = "psbl.surriel.com",
    kind = { "ip4" },
    codes = { ["127.0.0.2"] = { severity = "warn", meaning = "sent mail to PSBL spam traps" } },
    errors = {},
    delist = "https://psbl.org/ (self-service removal)",
    test = { listed = { "127.0.0.2" }, unlisted = { "127.0.0.1" } },
  },
  {
    id = "mailspike",
    name = "Mailspike Blacklist",
    zone = "bl.mailspike.net",
    kind = { "ip4" },
    -- Mailspike documentation ("Mailspike Blacklist (BL)", "IP Verify"):
    -- bl.mailspike.net combines the zero-hour list (127.0.0.2) and the worst
    -- reputation levels L5..L3 of rep.mailspike.net (127.0.0.10..12); L2/L1
    -- (127.0.0.13/14) exist only in rep.mailspike.net and are never answered
    -- by bl. Mailspike recommends blocking on every bl answer.
    codes = {
      ["127.0.0.2"] = { meaning = "zero-hour listing: seen taking part in a distributed spam wave (Mailspike Z)" },
      ["127.0.0.10"] = { meaning = "worst possible reputation (Mailspike L5)" },
      ["127.0.0.11"] = { meaning = "very bad reputation (Mailspike L4)" },
      ["127.0.0.12"] = { meaning = "bad reputation (Mailspike L3)" },
    },
    errors = {},
    delist = "https://mailspike.io/ip_verify (IP Verify: look up the address and request delisting, after "
      .. "cleaning the system)",
    -- free for fewer than 100,000 messages and 100,000 DNS queries a day
    usage = { queries_per_day = 100000, connections_per_day = 100000,
      terms = "Mailspike: free for low-volume, non-commercial use, fewer than 100,000 messages and 100,000 "
        .. "DNS queries a day" },
    test = { listed = { "127.0.0.2" }, unlisted = { "127.0.0.1" } },
  },
}

-- Well-known public resolvers: DNSBLs refuse or rate-limit them, so their
-- answers about your address are not worth much.
M.public_resolvers = {
  ["8.8.8.8"] = "Google Public DNS", ["8.8.4.4"] = "Google Public DNS",
  ["2001:4860:4860::8888"] = "Google Public DNS", ["2001:4860:4860::8844"] = "Google Public DNS",
  ["1.1.1.1"] = "Cloudflare", ["1.0.0.1"] = "Cloudflare",
  ["2606:4700:4700::1111"] = "Cloudflare", ["2606:4700:4700::1001"] = "Cloudflare",
  ["9.9.9.9"] = "Quad9", ["149.112.112.112"] = "Quad9", ["2620:fe::fe"] = "Quad9", ["2620:fe::9"] = "Quad9",
  ["208.67.222.222"] = "OpenDNS", ["208.67.220.220"] = "OpenDNS",
  ["2620:119:35::35"] = "OpenDNS", ["2620:119:53::53"] = "OpenDNS",
  ["94.140.14.14"] = "AdGuard DNS", ["94.140.15.15"] = "AdGuard DNS",
  ["64.6.64.6"] = "Verisign Public DNS", ["64.6.65.6"] = "Verisign Public DNS",
  ["185.228.168.9"] = "CleanBrowsing", ["185.228.169.9"] = "CleanBrowsing",
  ["76.76.2.0"] = "Control D", ["76.76.10.0"] = "Control D",
  ["4.2.2.1"] = "Level3/Lumen", ["4.2.2.2"] = "Level3/Lumen",
}

return M
