/* mxdiag explain CODE: a finding code's documentation, from the rule that
 * declares it (its id, description and default severity) and from RULES.md's
 * code sections (the code's row: what it means, its evidence). RULES.md is the
 * source tree's for the binary in its build directory, else the installed one
 * (Debian compresses it: RULES.md.gz is read too). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "cli.h"
#include "escape.h"
#include "termtext.h"

/* The whole of RULES.md, or NULL (where it was looked for in *where). */
static char *read_rules_md(mx_buf *where) {
    mx_buf path = MX_BUF_INIT;
    const char *shipped = mx_cli_shipped_rules();
    const char *env = getenv("MXDIAG_RULES_DOC");
    char *cands[4] = {0};
    int n = 0;
    if (env && *env) cands[n++] = mx_xstrdup(env);
    if (!strcmp(shipped, MXDIAG_SOURCE_RULES)) {
        mx_buf_printf(&path, "%s/../RULES.md", MXDIAG_SOURCE_RULES);
        cands[n++] = mx_buf_steal(&path);
    }
    cands[n++] = mx_xstrdup(MXDIAG_INSTALL_DOC "/RULES.md");
    cands[n++] = mx_xstrdup(MXDIAG_INSTALL_DOC "/RULES.md.gz");
    char *text = NULL;
    for (int i = 0; i < n; i++) {
        if (!text) {
            gzFile g = gzopen(cands[i], "rb"); /* reads plain files as they are */
            if (g) {
                mx_buf b = MX_BUF_INIT;
                char chunk[65536];
                int k;
                while ((k = gzread(g, chunk, sizeof chunk)) > 0 && b.len < (8u << 20)) mx_buf_put(&b, chunk, (size_t)k);
                gzclose(g);
                if (b.len) text = mx_buf_steal(&b);
                mx_buf_free(&b);
            }
        }
        mx_buf_printf(where, "%s%s", where->len ? ", " : "", cands[i]);
        free(cands[i]);
    }
    mx_buf_free(&path);
    return text;
}

/* RULES.md's row for code ("| `code` | severity | meaning |"): the meaning
 * and the heading of its section, copied into the buffers; 0 if found. */
static int find_row(const char *md, const char *code, mx_buf *meaning, mx_buf *section, mx_buf *sev) {
    mx_buf pat = MX_BUF_INIT;
    mx_buf_printf(&pat, "| `%s` |", code);
    const char *heading = NULL;
    int found = -1;
    for (const char *line = md; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (len > 3 && !strncmp(line, "## ", 3)) heading = line;
        if (len >= pat.len && !strncmp(line, pat.data, pat.len)) {
            const char *p = line + pat.len, *bar = memchr(p, '|', len - pat.len);
            if (bar) {
                const char *s = p;
                while (*s == ' ') s++;
                const char *e = bar;
                while (e > s && e[-1] == ' ') e--;
                mx_buf_put(sev, s, (size_t)(e - s));
                const char *m = bar + 1, *mend = line + len;
                while (*m == ' ') m++;
                while (mend > m && (mend[-1] == ' ' || mend[-1] == '|')) mend--;
                mx_buf_put(meaning, m, (size_t)(mend - m));
                if (heading) {
                    const char *he = strchr(heading, '\n');
                    mx_buf_put(section, heading + 3, he ? (size_t)(he - heading - 3) : strlen(heading + 3));
                }
                found = 0;
                break;
            }
        }
        line = end ? end + 1 : NULL;
    }
    mx_buf_free(&pat);
    return found;
}

int mx_cmd_explain(int argc, char **argv) {
    mx_cli c;
    mx_cli_parse(argc, argv, &c);
    if (c.nrest != 1) mx_cli_cmd_usage_error("explain", "%s", "explain needs one finding CODE (e.g. tcp.refused)");
    const char *code = c.rest[0];
    mx_strlist dirs = {0};
    mx_cli_site_dirs(&c, &dirs);
    mx_rt *rt = mx_cli_runtime(&c, &dirs, NULL, NULL);
    mx_json *rules = mx_rt_rules_json(rt);
    const mx_json *rule = NULL;
    const char *declared = NULL;
    for (size_t i = 0; rules && i < rules->u.c.len && !rule; i++) {
        const char *s = mx_json_get_str(mx_json_get(rules->u.c.items[i], "codes"), code);
        if (s) { rule = rules->u.c.items[i]; declared = s; }
    }
    mx_buf where = MX_BUF_INIT, meaning = MX_BUF_INIT, section = MX_BUF_INIT, sev = MX_BUF_INIT, out = MX_BUF_INIT;
    char *md = read_rules_md(&where);
    int in_doc = md && find_row(md, code, &meaning, &section, &sev) == 0;
    int rc = 0, width = mx_text_width();
    if (!rule && !in_doc) {
        mx_errf("mxdiag explain: no rule declares the code '%s' and RULES.md has no row for it%s%s", code,
                md ? "" : " (RULES.md not found: looked in ", md ? "" : mx_buf_cstr(&where));
        if (!md) fputs(")\n", stderr);
        fprintf(stderr, "Codes look like tcp.refused; `mxdiag rules list` names the rules, `mxdiag rules show ID` "
                        "their codes.\n");
        rc = EXIT_USAGE;
    } else {
        mx_buf head = MX_BUF_INIT;
        mx_buf_printf(&head, "%s (%s%s%s%s)", code, rule ? "rule " : "", rule ? mx_json_get_str(rule, "id") : "",
                      rule ? ", " : "", declared ? declared : sev.len ? mx_buf_cstr(&sev) : "?");
        mx_text_wrap(&out, mx_buf_cstr(&head), 0, 2, width);
        mx_buf_putc(&out, '\n');
        if (rule && mx_json_get_str(rule, "description")) {
            mx_buf_puts(&out, "  ");
            mx_text_wrap(&out, mx_json_get_str(rule, "description"), 2, 2, width);
            mx_buf_putc(&out, '\n');
        }
        if (in_doc) {
            /* the row's Markdown (`code`) is left as written: it reads well as text */
            if (sev.len && (!declared || strcmp(declared, mx_buf_cstr(&sev)) != 0)) {
                mx_buf_reset(&head);
                mx_buf_printf(&head, "severity: %s", mx_buf_cstr(&sev));
                mx_buf_puts(&out, "  ");
                mx_text_wrap(&out, mx_buf_cstr(&head), 2, 4, width);
                mx_buf_putc(&out, '\n');
            }
            mx_buf_puts(&out, "\n  ");
            mx_text_wrap(&out, mx_buf_cstr(&meaning), 2, 2, width);
            mx_buf_putc(&out, '\n');
            mx_buf_puts(&out, "\n  ");
            mx_buf_reset(&head);
            mx_buf_printf(&head, "RULES.md, \"%s\"", mx_buf_cstr(&section));
            mx_text_wrap(&out, mx_buf_cstr(&head), 2, 2, width);
            mx_buf_putc(&out, '\n');
        } else {
            mx_buf_puts(&out, "\n  ");
            mx_text_wrap(&out, md ? "(RULES.md has no row for this code: a site rule's own code?)"
                                  : "(RULES.md not found)", 2, 2, width);
            mx_buf_putc(&out, '\n');
        }
        mx_buf_free(&head);
        fwrite(out.data ? out.data : "", 1, out.len, stdout);
    }
    free(md);
    mx_buf_free(&where);
    mx_buf_free(&meaning);
    mx_buf_free(&section);
    mx_buf_free(&sev);
    mx_buf_free(&out);
    mx_json_free(rules);
    mx_rt_free(rt);
    free(dirs.v);
    mx_cli_free(&c);
    return rc;
}
