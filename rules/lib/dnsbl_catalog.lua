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
--   codes     answer address -> { meaning=, severity=?, scope=? }
--             severity: of the dnsbl.listed finding (default "crit");
--             scope = "network": the list names your provider's range, not
--             your address (dnsbl.network_listed)
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
-- trusted whatever they answer), and lists that need a paid key in the zone.
local M = {}

local spamhaus_errors = {
  ["127.255.255.252"] = "typing error in the DNSBL name (Spamhaus: query to a malformed zone)",
  ["127.255.255.254"] = "query refused: it came through a public/open resolver (Spamhaus blocks those; "
    .. "use your own recursive resolver or a Spamhaus DQS key)",
  ["127.255.255.255"] = "query refused: excessive number of queries from this resolver (rate-limited)",
}

M.lists = {
  {
    id = "spamhaus-zen",
    name = "Spamhaus ZEN",
    zone = "zen.spamhaus.org",
    kind = { "ip4", "ip6" },
    codes = {
      ["127.0.0.2"] = { meaning = "SBL: Spamhaus Blocklist, a verified spam source or spam operation" },
      ["127.0.0.3"] = { meaning = "SBL CSS: low-reputation address sending snowshoe or bulk spam" },
      ["127.0.0.4"] = { meaning = "XBL: exploited host (malware, botnet, open proxy) seen sending spam" },
      ["127.0.0.5"] = { meaning = "XBL: exploited host (malware, botnet, open proxy)" },
      ["127.0.0.6"] = { meaning = "XBL: exploited host (malware, botnet, open proxy)" },
      ["127.0.0.7"] = { meaning = "XBL: exploited host (malware, botnet, open proxy)" },
      ["127.0.0.9"] = { meaning = "DROP/EDROP: hijacked or criminal netblock (do not route or peer)" },
      ["127.0.0.10"] = { severity = "warn",
        meaning = "PBL (listed by the ISP): end-user range that should not send mail directly to MX hosts" },
      ["127.0.0.11"] = { severity = "warn",
        meaning = "PBL (listed by Spamhaus): end-user/dynamic range that should not send mail directly to MX hosts" },
    },
    errors = spamhaus_errors,
    delist = "https://check.spamhaus.org/ (PBL: self-service removal if this is a real mail server; "
      .. "SBL/CSS/XBL: fix the cause first, then follow the listing's page)",
    test = { listed = { "127.0.0.2" }, unlisted = { "127.0.0.1" } },
  },
  {
    id = "spamhaus-dbl",
    name = "Spamhaus DBL",
    zone = "dbl.spamhaus.org",
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
    codes = { ["127.0.0.2"] = { severity = "warn", meaning = "this single address sent to UCEPROTECT spam traps" } },
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
    codes = {
      ["127.0.0.2"] = { severity = "warn", meaning = "listed in the Mailspike blacklist" },
      ["127.0.0.10"] = { meaning = "worst possible reputation (Mailspike L5)" },
      ["127.0.0.11"] = { severity = "warn", meaning = "very bad reputation (Mailspike L4)" },
      ["127.0.0.12"] = { severity = "warn", meaning = "bad reputation (Mailspike L3)" },
      ["127.0.0.13"] = { severity = "info", meaning = "suspicious reputation (Mailspike L2)" },
      ["127.0.0.14"] = { severity = "info", meaning = "neutral to bad reputation (Mailspike L1)" },
    },
    errors = {},
    delist = "https://mailspike.org/ (no manual removal: the reputation recovers as clean mail is seen)",
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
