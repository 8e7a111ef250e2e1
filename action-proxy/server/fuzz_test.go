package server

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// FuzzParseInit feeds arbitrary /init bodies to the decoder. It must never
// panic, and every refusal must be one of the stock proxy's statuses with a
// message that says what was wrong.
func FuzzParseInit(f *testing.F) {
	for _, seed := range []string{
		`{"value":{"code":"#!/bin/sh\necho hi","main":"main","binary":false,"env":{"A":"1","B":2,"C":null,"D":{"x":[1]}}}}`,
		`{"value":{"code":"IyEvYmluL3NoCg==","binary":true}}`,
		`{"value":{"code":"not base64!","binary":true}}`,
		`{"value":{"code":""}}`,
		`{"value":{"code":"x","env":[]}}`,
		`{"value":null}`,
		`{}`,
		`XXX`,
		``,
		`{"value":{"code":"x"}} trailing`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		spec, status, msg := parseInit(strings.NewReader(body))
		switch status {
		case http.StatusOK:
			if len(spec.payload) == 0 || spec.main == "" {
				t.Fatalf("accepted %q with no code or main: %+v", body, spec)
			}
			var v struct{ Value struct{ Code string } }
			if err := json.Unmarshal([]byte(body), &v); err != nil || v.Value.Code == "" {
				t.Fatalf("accepted %q, which the stock proxy refuses", body)
			}
		case http.StatusBadRequest, http.StatusForbidden:
			if msg == "" {
				t.Fatalf("refused %q without a message", body)
			}
		default:
			t.Fatalf("parseInit(%q) answered status %d", body, status)
		}
	})
}
