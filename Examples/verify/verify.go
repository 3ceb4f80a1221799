package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Verify checks a delivery's Standard Webhooks v1 signature and timestamp.
func Verify(secret string, header http.Header, body []byte, tolerance time.Duration) bool {
	ts, err := strconv.ParseInt(header.Get("webhook-timestamp"), 10, 64)
	if err != nil || time.Since(time.Unix(ts, 0)).Abs() > tolerance {
		return false
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%d.", header.Get("webhook-id"), ts)
	mac.Write(body)
	expected := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, s := range strings.Split(header.Get("webhook-signature"), " ") {
		if version, signature, ok := strings.Cut(s, ","); ok && version == "v1" && hmac.Equal([]byte(signature), []byte(expected)) {
			return true
		}
	}
	return false
}
