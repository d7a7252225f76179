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
        if (a && !seen(addrs, naddrs, a) && naddrs < 256) addrs[naddrs++] = (char *)a;
        if (a && s && !seen(sources, nsources, s) && nsources < 64) sources[nsources++] = (char *)s;
        if (a && bad(f)) nbad++;
    }

    mx_buf_printf(out, "To: %s\n", rcpt);
    mx_buf_printf(out, "Subject: Mail to %s cannot be delivered from our servers%s\n\n", name,
                  nbad ? "" : " (no failure observed)");
    mx_buf_printf(out, "Hello,\n\n");
    mx_buf_printf(out,
                  "we write to the postmaster address of %s (RFC 2142) because mail from our servers to\n"
                  "recipients at %s is not being delivered. Below are the facts we observed; we would\n"
                  "be grateful if you could check them on your side.\n\n", name, name);
    mx_buf_printf(out, "Time of the test (UTC): %s\n", started ? started : "unknown");
    mx_buf_printf(out, "Tested with: mxdiag %s\n\n", version ? version : "");

    mx_buf_puts(out, "Our sending addresses\n");
    if (nsources == 0) mx_buf_puts(out, "  unknown (no connection attempt recorded its source address)\n");
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
            mx_buf_printf(out, "    - %s [%s]\n", mx_json_get_str(f, "summary"), mx_json_get_str(f, "code"));
            for (const char *const *key = exact_keys; *key; key++) {
                const char *t = ev_str(f, *key);
                if (t) mx_buf_printf(out, "      exact text: \"%s\"\n", t);
            }
        }
    }
    /* findings about the domain as a whole (DNS) that are not about an address */
    int hdr = 0;
    for (size_t i = 0; i < fs->u.c.len; i++) {
        const mx_json *f = fs->u.c.items[i];
        if (ev_str(f, "address") || !bad(f)) continue;
        const char *code = mx_json_get_str(f, "code");
        if (code && (strncmp(code, "delivery.", 9) == 0 || strncmp(code, "rule.", 5) == 0)) continue;
        if (!hdr) { mx_buf_puts(out, "\nOther observations\n"); hdr = 1; }
        mx_buf_printf(out, "  - %s [%s]\n", mx_json_get_str(f, "summary"), code ? code : "?");
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
    if (nbad)
        mx_buf_printf(out,
                      "  The failures above happen at your servers' addresses, so we cannot resolve them from our\n"
                      "  side alone. If our addresses are blocked on purpose, please tell us why, so that we can fix\n"
                      "  the cause; if not, please lift the block or tell us whom to contact.\n");
    else
        mx_buf_puts(out, "  This test found no failure at your servers; this letter may not be needed.\n");
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
