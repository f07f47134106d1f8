package runtime

import (
	"maps"
	"regexp"
	"strings"
	"sync"
	"unicode"

	"github.com/eco-pm/eco/ecosystem"
)

// Masked is what eco shows in place of a secret.
const Masked = "********"

// secretWords are the words of an environment variable's name that make its value a secret,
// as a whole word of the name (DB_PASSWORD, apiKey, NODE_AUTH_TOKEN).
var secretWords = map[string]bool{
	"PASSWORD": true, "PASSWORDS": true, "PASSWD": true, "PASS": true, "PWD": true, "PASSPHRASE": true,
	"SECRET": true, "SECRETS": true, "TOKEN": true, "TOKENS": true,
	"KEY": true, "KEYS": true, "APIKEY": true, "PRIVATE": true, "PRIVATEKEY": true,
	"CREDENTIAL": true, "CREDENTIALS": true, "CREDS": true, "AUTH": true, "DSN": true, "SALT": true,
}

// secretEndings make a word secret when it ends with one of them (DBPASSWORD, GITHUBTOKEN,
// STRIPEAPIKEY); KEY alone is not among them, so MONKEY and TURKEY are not secrets.
var secretEndings = []string{"PASSWORD", "PASSWD", "SECRET", "TOKEN", "APIKEY", "PRIVATEKEY", "CREDENTIALS"}

// SecretEnvName reports whether the environment variable called name holds a secret, by the
// words of its name: split at '_', '-', '.' and between a lower-case letter and an upper-case
// one. PWD alone is the working directory, not a password.
func SecretEnvName(name string) bool {
	words := nameWords(name)
	for _, w := range words {
		if w == "PWD" && len(words) == 1 {
			continue
		}
		if secretWords[w] {
			return true
		}
		for _, end := range secretEndings {
			if strings.HasSuffix(w, end) {
				return true
			}
		}
	}
	return false
}

// nameWords splits an environment variable's name into upper-case words.
func nameWords(name string) []string {
	var words []string
	var cur []rune
	var prev rune
	flush := func() {
		if len(cur) > 0 {
			words = append(words, strings.ToUpper(string(cur)))
			cur = cur[:0]
		}
	}
	for _, r := range name {
		switch {
		case !unicode.IsLetter(r) && !unicode.IsDigit(r):
			flush()
		case unicode.IsUpper(r) && unicode.IsLower(prev):
			flush()
			cur = append(cur, r)
		default:
			cur = append(cur, r)
		}
		prev = r
	}
	flush()
	return words
}

// passwordField is a password in a key=value connection string ("host=db password=x").
var passwordField = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(?i)\b(password|passwd|pwd)=([^\s;&]+)`) })

// MaskEnvValue returns the value of the environment variable name as eco shows it: Masked
// when the name says it is a secret; otherwise with the password of a URL
// (postgres://user:pw@host/db) and password= fields of a connection string masked.
func MaskEnvValue(name, value string) string {
	if SecretEnvName(name) {
		return Masked
	}
	value = maskURLPassword(value)
	return passwordField().ReplaceAllString(value, "${1}="+Masked)
}

// maskURLPassword masks the password of a URL's user information, wherever the URL is in s.
func maskURLPassword(s string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, "://")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i+3])
		s = s[i+3:]
		end := strings.IndexAny(s, "/?# \t\n")
		if end < 0 {
			end = len(s)
		}
		authority := s[:end]
		at := strings.LastIndexByte(authority, '@')
		if at < 0 {
			continue
		}
		user, _, hasPassword := strings.Cut(authority[:at], ":")
		if !hasPassword {
			continue
		}
		b.WriteString(user + ":" + Masked)
		s = s[at:]
	}
}

// maskedApp returns a copy of a whose env values are masked with MaskEnvValue; a itself, which
// the daemon runs, is left alone.
func maskedApp(a *ecosystem.App) *ecosystem.App {
	if a == nil {
		return nil
	}
	c := *a
	c.Env = maps.Clone(a.Env)
	for k, v := range c.Env {
		c.Env[k] = MaskEnvValue(k, v)
	}
	return &c
}
