/* The escalation letter: facts from the findings only. What the findings do
 * not establish is written as unknown, never guessed. */
#include "letter.h"
#include "escape.h"
#include <stdio.h>
#include <string.h>

static const char *ev_str(const mx_json *f, const char *key) {
    return mx_json_get_str(mx_json_get(f, "evidence"), key);
}

static int seen(char **list, size_t n, const char *s) {
    for (size_t i = 0; i < n; i++) if (strcmp(list[i], s) == 0) return 1;
    return 0;
}

/* Does any scalar string in the finding's evidence equal s? */
static int ev_mentions(const mx_json *f, const char *s) {
    const mx_json *e = mx_json_get(f, "evidence");
    if (!e || e->type != MX_JOBJ) return 0;
    for (size_t i = 0; i < e->u.c.len; i++) {
        const mx_json *v = e->u.c.items[i];
        if (v->type == MX_JSTR && strcmp(v->u.str.s, s) == 0) return 1;
    }
    return 0;
}

static int code_has(const mx_json *f, const char *const *parts) {
    const char *code = mx_json_get_str(f, "code");
    if (!code) return 0;
    for (; *parts; parts++) if (strstr(code, *parts)) return 1;
    return 0;
}

static int bad(const mx_json *f) {
    const char *s = mx_json_get_str(f, "severity");
    return s && (strcmp(s, "warn") == 0 || strcmp(s, "crit") == 0);
}

/* Facts about one of our addresses (PTR, blocklists), from whichever rules
 * established them; "unknown" when none did. */
static void our_fact(mx_buf *out, const mx_json *fs, const char *addr, const char *label, const char *const *codes) {
    int any = 0;
    for (size_t i = 0; i < fs->u.c.len; i++) {
        const mx_json *f = fs->u.c.items[i];
        if (!code_has(f, codes) || !ev_mentions(f, addr)) continue;
        mx_buf_printf(out, "    %s: %s\n", label, mx_json_get_str(f, "summary"));
        any = 1;
    }
    if (!any) mx_buf_printf(out, "    %s: unknown (not checked in this run)\n", label);
}

static const mx_json *find_code(const mx_json *fs, const char *code) {
    for (size_t i = 0; i < fs->u.c.len; i++) {
        const char *c = mx_json_get_str(fs->u.c.items[i], "code");
        if (c && strcmp(c, code) == 0) return fs->u.c.items[i];
    }
    return NULL;
}

/* Is g a tcp.family_fails finding whose remedy is on our side (this host
 * has no route for the family)? */
static int our_route_missing(const mx_json *g) {
    const char *c = mx_json_get_str(g, "code"), *side = ev_str(g, "remedy_side");
    return c && strcmp(c, "tcp.family_fails") == 0 && side && strcmp(side, "sender") == 0;
}

/* The first such finding, or NULL. */
static const mx_json *our_family_failure(const mx_json *fs) {
    for (size_t i = 0; i < fs->u.c.len; i++)
        if (our_route_missing(fs->u.c.items[i])) return fs->u.c.items[i];
    return NULL;
}

/* Is this finding about one of their addresses a failure of ours: an
 * address of a family this host has no route for (such a finding for the
 * same host and family)? */
static int our_side_failure(const mx_json *fs, const mx_json *f) {
    const char *a = ev_str(f, "address"), *h = ev_str(f, "host");
    if (!a || !h) return 0;
    const char *fam = strchr(a, ':') ? "IPv6" : "IPv4";
    for (size_t i = 0; i < fs->u.c.len; i++) {
        const mx_json *g = fs->u.c.items[i];
        const char *gh = ev_str(g, "host"), *gf = ev_str(g, "family");
        if (our_route_missing(g) && gh && gf && strcmp(gh, h) == 0 && strcmp(gf, fam) == 0) return 1;
    }
    return 0;
}

/* Is there a reason not to write at all? Then says it in `out` (a note for
 * our administrator, not a letter) and returns 1. A letter helps only when
 * the problem is theirs and someone there can read it. */
static int no_letter(mx_buf *out, const mx_json *fs, const char *name, const char *rcpt, size_t nbad) {
    const mx_json *f;
    /* was any mail server of theirs connected to at all (the tcp rule's findings)? */
    int tested = 0;
    for (size_t i = 0; i < fs->u.c.len && !tested; i++) {
        const char *c = mx_json_get_str(fs->u.c.items[i], "code");
        tested = c && strncmp(c, "tcp.", 4) == 0;
    }
    if ((f = find_code(fs, "dns.nxdomain"))) {
        mx_buf_printf(out, "No letter to %s: there is nobody to write to.\n\n"
                           "  %s does not exist (the DNS answers NXDOMAIN), so it has no postmaster and no mail\n"
                           "  server. Check the spelling of the address. If the domain should exist, its owner\n"
                           "  must renew or repair its registration; a letter cannot reach them through it.\n",
                      rcpt, name);
    } else if ((f = find_code(fs, "mx.null"))) {
        mx_buf_printf(out, "No letter to %s: there is nobody to write to.\n\n"
                           "  %s publishes a null MX (RFC 7505): it declares that it accepts no mail at all,\n"
                           "  its postmaster included. Addresses at %s are not mail addresses; tell whoever\n"
                           "  gave you the address. If that is wrong, the domain's owner must publish MX records.\n",
                      rcpt, name, name);
    } else if ((f = find_code(fs, "mx.none"))) {
        mx_buf_printf(out, "No letter to %s: there is nobody to write to.\n\n"
                           "  %s has no MX record and no address, so mail to it, its postmaster included, cannot\n"
                           "  be delivered. Reach its owner another way (its website, or the contact in whois).\n",
                      rcpt, name);
    } else if ((f = find_code(fs, "outbound.port25_blocked")) || (f = find_code(fs, "local.firewall_blocks_out25"))) {
        mx_buf_printf(out, "No letter to %s: the problem is on our side.\n\n"
                           "  %s\n\n"
                           "  Mail from here cannot reach any mail server on port 25, not only theirs: the receiver\n"
                           "  can do nothing about it. Open outbound port 25 (this host's firewall, the network's,\n"
                           "  or ask the provider), or relay through a smarthost on port 587.\n",
                      rcpt, mx_json_get_str(f, "summary"));
    } else if ((f = find_code(fs, "outbound.no_control"))) {
        /* every address of theirs fails on port 25 and nothing was compared: a block
         * of outbound port 25 on our side looks the same */
        mx_buf_printf(out, "No letter to %s yet: whose side blocks is not known.\n\n"
                           "  %s\n\n"
                           "  A block of outbound port 25 on our side (this host's firewall, or a provider that\n"
                           "  blocks port 25) looks exactly like a receiver that drops or refuses us, so the\n"
                           "  letter could blame them for our block. Check again with --control HOST (a mail\n"
                           "  host known to accept port 25): if port 25 fails there too, the block is ours; if\n"
                           "  only theirs fails, --letter writes the letter.\n",
                      rcpt, mx_json_get_str(f, "summary"));
    } else if ((f = find_code(fs, "dnsbl.listed")) && bad(f)) {
        mx_buf_printf(out, "No letter to %s: the problem is on our side.\n\n", rcpt);
        for (size_t i = 0; i < fs->u.c.len; i++) {
            const mx_json *g = fs->u.c.items[i];
            const char *code = mx_json_get_str(g, "code"), *delist = ev_str(g, "delist");
            if (!code || strcmp(code, "dnsbl.listed") != 0 || !bad(g)) continue;
            mx_buf_printf(out, "  - %s\n", mx_json_get_str(g, "summary"));
            if (delist) mx_buf_printf(out, "    removal: %s\n", delist);
        }
        mx_buf_printf(out, "\n  Receivers that use these lists refuse our mail because of the listing; asking %s\n"
                           "  for an exception rarely helps and does not fix delivery to anyone else. Find the\n"
                           "  cause, fix it, and request removal (above). Write to the receiver only if it still\n"
                           "  refuses our mail after the listing is gone.\n",
                      name);
    } else if (nbad == 0 && !find_code(fs, "delivery.none") && !find_code(fs, "delivery.delayed") &&
               (f = our_family_failure(fs))) {
        /* their only failing addresses are of a family this host cannot route */
        mx_buf_printf(out, "No letter to %s: the problem is on our side.\n\n"
                           "  %s\n\n"
                           "  %s\n\n"
                           "  The same mail server accepts connections from here over the other address family;\n"
                           "  the receiver can do nothing about a route that this host lacks.\n",
                      rcpt, mx_json_get_str(f, "summary"), mx_json_get_str(f, "advice"));
    } else if (nbad == 0 && !find_code(fs, "delivery.none") && !find_code(fs, "delivery.delayed") && !tested) {
        /* "every server that was tested accepted" would be true of none tested */
        mx_buf_printf(out, "No letter to %s: this check tested none of their mail servers.\n\n"
                           "  This check made no connection to a mail server of %s (rules left out with --only\n"
                           "  or --skip, or the check stopped before), so there is nothing to report to them.\n"
                           "  Check again with the network rules (the default selection).\n",
                      rcpt, name);
    } else if (nbad == 0 && !find_code(fs, "delivery.none") && !find_code(fs, "delivery.delayed")) {
        mx_buf_printf(out, "No letter to %s: this check found no failure.\n\n"
                           "  Every mail server of %s that was tested accepted the connection, so there is\n"
                           "  nothing to report to them. If mail still fails, look at the failure in our logs\n"
                           "  (mxdiag logs) and check again while it happens.\n",
                      rcpt, name);
    } else {
        return 0;
    }
    return 1;
}

/* Is `a` an address of one of their MX hosts (mx.ok's evidence)? When no
 * mx.ok finding lists them (a host or address target), every address is. A
 * site rule's finding about our own smarthost or relay has an address too:
 * it is not theirs to hear about. */
static int their_address(const mx_json *fs, const char *a) {
    const mx_json *hosts = NULL;
    for (size_t i = 0; i < fs->u.c.len && !hosts; i++) {
        const char *code = mx_json_get_str(fs->u.c.items[i], "code");
        if (code && strcmp(code, "mx.ok") == 0) hosts = mx_json_get(mx_json_get(fs->u.c.items[i], "evidence"), "hosts");
    }
    if (!hosts || hosts->type != MX_JARR) return 1;
    for (size_t i = 0; i < hosts->u.c.len; i++) {
        const mx_json *as = mx_json_get(hosts->u.c.items[i], "addresses");
        for (size_t k = 0; as && as->type == MX_JARR && k < as->u.c.len; k++)
            if (as->u.c.items[k]->type == MX_JSTR && strcmp(as->u.c.items[k]->u.str.s, a) == 0) return 1;
    }
    return 0;
}

static const char *const exact_keys[] = {"reply", "response", "greeting", "text", "line", "banner", NULL};

static void letter_body(mx_buf *out, const mx_json *doc, const char *started, const char *version) {
    const mx_json *target = mx_json_get(doc, "target");
    const mx_json *fs = mx_json_get(doc, "findings");
    static const mx_json empty = {.type = MX_JARR};
    if (!fs || fs->type != MX_JARR) fs = &empty;
    const char *domain = mx_json_get_str(target, "domain");
    const char *host = mx_json_get_str(target, "host"), *address = mx_json_get_str(target, "address");
    char rcpt[300];
    if (domain) snprintf(rcpt, sizeof rcpt, "postmaster@%s", domain);
    else if (host) snprintf(rcpt, sizeof rcpt, "postmaster@%s", host);
    else snprintf(rcpt, sizeof rcpt, "postmaster@[%s]", address ? address : "?");
    const char *name = domain ? domain : host ? host : address ? address : "?";

    /* their addresses, in finding order (MX preference order) */
    char *addrs[256];
    size_t naddrs = 0;
    char *sources[64];
    size_t nsources = 0;
    size_t nbad = 0;
    for (size_t i = 0; i < fs->u.c.len; i++) {
        const mx_json *f = fs->u.c.items[i];
        const char *a = ev_str(f, "address"), *s = ev_str(f, "source");
        if (a && s && !seen(sources, nsources, s) && nsources < 64) sources[nsources++] = (char *)s;
        if (a && !their_address(fs, a)) continue;
        if (a && !seen(addrs, naddrs, a) && naddrs < 256) addrs[naddrs++] = (char *)a;
        if (a && bad(f) && !our_side_failure(fs, f)) nbad++;
    }
    /* a connection whose local address is one of theirs (a check run on or beside their
     * host, as in the lab) says nothing about where our mail comes from */
    size_t kept = 0;
    for (size_t i = 0; i < nsources; i++)
        if (!seen(addrs, naddrs, sources[i])) sources[kept++] = sources[i];
    int own_only = nsources > 0 && kept == 0;
    nsources = kept;

    if (no_letter(out, fs, name, rcpt, nbad)) return;

    /* postmaster@ is delivered to the very servers that fail: say how else to reach them */
    if (find_code(fs, "delivery.none")) {
        mx_buf_printf(out,
                      "[Note for you, not part of the letter: mail to %s goes to the same mail servers\n"
                      " that fail below, so this letter will probably not arrive by mail. Send it through another\n"
                      " channel:", rcpt);
        if (domain)
            mx_buf_printf(out, " the contact page of their website (https://%s/), the registrant's or\n"
                               " technical contact that `whois %s` shows,", domain, domain);
        if (naddrs)
            mx_buf_printf(out, " the abuse contact of the network that holds\n their server (`whois %s`),", addrs[0]);
        mx_buf_puts(out, " or a phone number you have for them.]\n\n");
    }
    /* what happens to the mail, as the delivery rule concluded: "cannot be
     * delivered" only when no server of theirs accepts it */
    mx_buf_printf(out, "To: %s\n", rcpt);
    if (find_code(fs, "delivery.none")) {
        mx_buf_printf(out, "Subject: Mail to %s cannot be delivered from our servers\n\n", name);
        mx_buf_printf(out, "Hello,\n\n");
        mx_buf_printf(out,
                      "we write to the postmaster address of %s (RFC 2142) because mail from our servers to\n"
                      "recipients at %s is not being delivered. Below are the facts we observed; we would\n"
                      "be grateful if you could check them on your side.\n\n", name, name);
    } else if (find_code(fs, "delivery.delayed")) {
        mx_buf_printf(out, "Subject: Mail to %s from our servers is being delayed\n\n", name);
        mx_buf_printf(out, "Hello,\n\n");
        mx_buf_printf(out,
                      "we write to the postmaster address of %s (RFC 2142) because mail from our servers to\n"
                      "recipients at %s is being delayed: your mail servers answer our connections with a\n"
                      "temporary refusal. Below are the facts we observed; we would be grateful if you could\n"
                      "check them on your side.\n\n", name, name);
    } else if (!find_code(fs, "delivery.ok") && !find_code(fs, "delivery.backup_only")) {
        /* no delivery conclusion (the rule left out): say only what the findings show */
        mx_buf_printf(out, "Subject: Mail to %s from our servers: failures at your mail servers\n\n", name);
        mx_buf_printf(out, "Hello,\n\n");
        mx_buf_printf(out,
                      "we write to the postmaster address of %s (RFC 2142) because connections from our servers\n"
                      "to the mail servers of %s fail. Below are the facts we observed; we would be grateful if\n"
                      "you could check them on your side.\n\n", name, name);
    } else {
        /* some connection fails (another address of theirs, or another source of ours, is
         * accepted): the mail arrives, later or not every time */
        mx_buf_printf(out, "Subject: Mail to %s from our servers: some connections to your mail servers fail\n\n",
                      name);
        mx_buf_printf(out, "Hello,\n\n");
        mx_buf_printf(out,
                      "we write to the postmaster address of %s (RFC 2142) because some connections from our\n"
                      "servers to the mail servers of %s fail, while others are accepted: our mail can still\n"
                      "arrive, but later or not at every attempt. Below are the facts we observed; we would\n"
                      "be grateful if you could check them on your side.\n\n", name, name);
    }
    mx_buf_printf(out, "Time of the test (UTC): %s\n", started ? started : "unknown");
    mx_buf_printf(out, "Tested with: mxdiag %s\n\n", version ? version : "");

    mx_buf_puts(out, "Our sending addresses\n");
    if (nsources == 0)
        mx_buf_puts(out, own_only ? "  unknown (the connections went out from addresses of your own servers)\n"
                                  : "  unknown (no connection attempt recorded its source address)\n");
    static const char *const ptr_codes[] = {"ptr", "rdns", NULL};
    static const char *const bl_codes[] = {"dnsbl.", "blocklist", NULL};
    for (size_t i = 0; i < nsources; i++) {
        mx_buf_printf(out, "  %s\n", sources[i]);
        our_fact(out, fs, sources[i], "reverse DNS (PTR)", ptr_codes);
        our_fact(out, fs, sources[i], "blocklists", bl_codes);
    }

    mx_buf_puts(out, "\nYour mail servers\n");
    const mx_json *hosts = NULL;
    for (size_t i = 0; i < fs->u.c.len && !hosts; i++) {
        const char *code = mx_json_get_str(fs->u.c.items[i], "code");
        if (code && strcmp(code, "mx.ok") == 0) hosts = mx_json_get(mx_json_get(fs->u.c.items[i], "evidence"), "hosts");
    }
    if (hosts && hosts->type == MX_JARR) {
        for (size_t i = 0; i < hosts->u.c.len; i++) {
            const mx_json *h = hosts->u.c.items[i], *pref = mx_json_get(h, "preference"), *as = mx_json_get(h, "addresses");
            mx_buf_printf(out, "  MX %lld %s:", pref && pref->type == MX_JINT ? pref->u.i : 0LL, mx_json_get_str(h, "host"));
            for (size_t k = 0; as && as->type == MX_JARR && k < as->u.c.len; k++)
                if (as->u.c.items[k]->type == MX_JSTR) mx_buf_printf(out, " %s", as->u.c.items[k]->u.str.s);
            mx_buf_putc(out, '\n');
        }
    } else if (naddrs == 0) {
        mx_buf_puts(out, "  unknown (no mail server address was found; see the DNS results below)\n");
    } else {
        for (size_t i = 0; i < naddrs; i++) mx_buf_printf(out, "  %s\n", addrs[i]);
    }

    mx_buf_puts(out, "\nWhat happened at each address\n");
    for (size_t k = 0; k < naddrs; k++) {
        mx_buf_printf(out, "  %s\n", addrs[k]);
        for (size_t i = 0; i < fs->u.c.len; i++) {
            const mx_json *f = fs->u.c.items[i];
            const char *a = ev_str(f, "address");
            if (!a || strcmp(a, addrs[k]) != 0) continue;
            /* our missing route to their address is not theirs to fix: not in their letter */
            if (bad(f) && our_side_failure(fs, f)) continue;
            mx_buf_printf(out, "    - %s\n", mx_json_get_str(f, "summary"));
            for (const char *const *key = exact_keys; *key; key++) {
                const char *t = ev_str(f, *key);
                if (t) mx_buf_printf(out, "      exact text: \"%s\"\n", t);
            }
        }
    }
    /* findings about the domain as a whole (DNS) that are not about an address */
    int hdr = 0;
    const mx_json *ours = our_family_failure(fs); /* our route, not theirs: not among their observations */
    for (size_t i = 0; i < fs->u.c.len; i++) {
        const mx_json *f = fs->u.c.items[i];
        if (ev_str(f, "address") || !bad(f)) continue;
        const char *code = mx_json_get_str(f, "code");
        if (code && (strncmp(code, "delivery.", 9) == 0 || strncmp(code, "rule.", 5) == 0)) continue;
        if (f == ours) continue;
        if (!hdr) { mx_buf_puts(out, "\nOther observations\n"); hdr = 1; }
        mx_buf_printf(out, "  - %s\n", mx_json_get_str(f, "summary"));
    }

    mx_buf_puts(out, "\nSince when\n");
    int logs = 0;
    for (size_t i = 0; i < fs->u.c.len; i++) {
        const char *code = mx_json_get_str(fs->u.c.items[i], "code");
        if (code && strncmp(code, "logs.", 5) == 0) {
            mx_buf_printf(out, "  %s\n", mx_json_get_str(fs->u.c.items[i], "summary"));
            logs = 1;
        }
    }
    if (!logs) mx_buf_puts(out, "  unknown (our mail logs were not examined for this letter)\n");

    mx_buf_puts(out, "\nWhy we are writing\n");
    if (find_code(fs, "smtp.rate_limited") && !find_code(fs, "delivery.none")) {
        /* their limit counts our own connections: ask for the limit, not for a block to be lifted */
        mx_buf_printf(out,
                      "  Your servers limit the connections from our address, and we want to stay within your\n"
                      "  limits. Please tell us the limit that applies to our addresses, so that we can spread our\n"
                      "  deliveries accordingly; if it is too strict for our legitimate volume, please consider\n"
                      "  raising it for our addresses.\n");
    } else {
        mx_buf_printf(out,
                      "  The failures above happen at your servers' addresses, so we cannot resolve them from our\n"
                      "  side alone. If our addresses are blocked on purpose, please tell us why, so that we can fix\n"
                      "  the cause; if not, please lift the block or tell us whom to contact.\n");
    }
    mx_buf_puts(out,
                "  [Describe the mail you send to " );
    mx_buf_puts(out, name);
    mx_buf_puts(out, ": who the recipients are and why they expect it.]\n\n"
                     "Thank you for your help.\n\n"
                     "[Your name, organisation and a phone number or address for replies]\n");
}

/* The whole letter is strangers' text between our sentences: it is escaped
 * once, as terminal text keeping its line breaks, where it is written. */
void mx_letter_write(mx_buf *out, const mx_json *doc, const char *started, const char *version) {
    mx_buf raw = MX_BUF_INIT;
    letter_body(&raw, doc, started, version);
    mx_esc_text_n(out, raw.data ? raw.data : "", raw.len, MX_ESC_NL);
    mx_buf_free(&raw);
}
