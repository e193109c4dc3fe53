package remote

import (
	"encoding/base64"
	"fmt"
	"strings"
)

// credentials is what goes into the Authorization header.
type credentials struct {
	user   string // for messages; "" for an API key
	header string // the whole header value; "" to send none
}

// DefaultUser is the user of a bare secret, as stalwart-cli takes it.
const DefaultUser = "admin"

// parseCredentials reads credentials as stalwart-cli takes them:
//   - "user:secret": Basic, split at the first colon;
//   - "secret" (no colon): Basic for user admin;
//   - "api_…": an API key, sent as Bearer;
//   - "user:" or "": no secret; prompt (when set) is asked for it, for the
//     user named or for admin.
func parseCredentials(s string, prompt func(user string) (string, error)) (credentials, error) {
	if strings.HasPrefix(s, "api_") && !strings.Contains(s, ":") {
		return credentials{header: "Bearer " + s}, nil
	}
	user, secret, found := strings.Cut(s, ":")
	if !found {
		user, secret = DefaultUser, s
	}
	user = strings.TrimSpace(user)
	if user == "" {
		return credentials{}, fmt.Errorf("%w: %q has no user before the colon: give user:secret, a bare secret for user %s, or an api_ key", ErrCredentials, redact(s), DefaultUser)
	}
	if secret == "" {
		if prompt == nil {
			return credentials{}, fmt.Errorf("%w: no secret for user %s: give user:secret, or set $MQSH_CREDENTIALS", ErrCredentials, user)
		}
		var err error
		if secret, err = prompt(user); err != nil {
			return credentials{}, fmt.Errorf("read the secret of %s: %w", user, err)
		}
		if secret == "" {
			return credentials{}, fmt.Errorf("%w: an empty secret for user %s", ErrCredentials, user)
		}
	}
	return credentials{user: user, header: "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+secret))}, nil
}

// redact keeps the user of "user:secret" and hides the rest.
func redact(s string) string {
	if u, _, ok := strings.Cut(s, ":"); ok {
		return u + ":***"
	}
	return "***"
}
