/* Decoding of DNS answers received through c-ares into mx_json, so that the
 * same shape is traced, recorded, replayed and handed to Lua. */
#ifndef MX_DNSMSG_H
#define MX_DNSMSG_H
#include <stddef.h>
#include "json.h"

#define MX_DNS_MAX_ANSWERS 256      /* records kept from one answer */
#define MX_DNS_MAX_TXT 4096         /* bytes of one TXT record kept */
#define MX_DNS_MAX_CNAME_CHAIN 16

/* Type numbers and names for the types the engine understands. */
int mx_dns_type_from_name(const char *name);   /* 0 if unknown */
const char *mx_dns_type_name(int type);        /* "TYPE<n>" text for unknown ones is not returned: NULL */
const char *mx_dns_rcode_name(int rcode);

/* Decodes a DNS response for (qname, qtype). Adds to obj: "rcode" (name),
 * "aa", "tc", "answers" (records of qtype owned by qname or by the end of its
 * CNAME chain: {name,type,ttl,data[,preference]}), "cname" (the chain, in
 * order). Returns 0, or -1 with *why set when the message is malformed. */
int mx_dns_decode(const unsigned char *msg, size_t len, const char *qname, int qtype,
                  mx_json *obj, const char **why);

#endif
