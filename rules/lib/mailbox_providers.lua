-- Large mailbox providers: the domains most addresses end in. The recipients
-- rule (rules/97-logs-recipients.lua) names a failing destination that looks
-- like a misspelling of one of these (or of the domains this server delivers
-- to most) as an invalid recipient address.
--
-- A site overrides this file with its own lib/mailbox_providers.lua in a rules
-- directory (--rules-dir DIR, /etc/mxdiag/rules.d): copy it, add its region's
-- providers. Lower-case domain names, one per entry.
return {
  "gmail.com", "googlemail.com",
  "outlook.com", "hotmail.com", "live.com", "msn.com",
  "hotmail.co.uk", "hotmail.fr", "hotmail.de", "hotmail.it", "hotmail.es", "outlook.fr", "outlook.de", "live.fr",
  "yahoo.com", "ymail.com", "rocketmail.com", "yahoo.co.uk", "yahoo.fr", "yahoo.de", "yahoo.it", "yahoo.es",
  "yahoo.co.jp", "yahoo.com.br", "aol.com",
  "icloud.com", "me.com", "mac.com",
  "proton.me", "protonmail.com", "pm.me",
  "gmx.com", "gmx.de", "gmx.net", "gmx.at", "web.de", "t-online.de", "freenet.de",
  "mail.com", "mail.ru", "yandex.ru", "yandex.com", "rambler.ru", "list.ru", "bk.ru", "inbox.ru",
  "orange.fr", "wanadoo.fr", "free.fr", "sfr.fr", "laposte.net",
  "libero.it", "virgilio.it", "alice.it",
  "comcast.net", "verizon.net", "att.net", "sbcglobal.net", "bellsouth.net", "cox.net", "charter.net",
  "btinternet.com", "sky.com", "virginmedia.com",
  "qq.com", "163.com", "126.com", "sina.com", "naver.com", "daum.net",
  "zoho.com", "fastmail.com", "tutanota.com", "seznam.cz", "wp.pl", "o2.pl", "interia.pl",
  "uol.com.br", "bol.com.br", "terra.com.br", "shaw.ca", "rogers.com", "bigpond.com", "optusnet.com.au",
}
