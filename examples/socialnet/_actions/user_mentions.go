// sn-user-mentions: resolves the post's author and its @mentions against
// the user table (built in: the example has no user service), listing the
// names it does not know separately. It passes the post id through.
//
//	wsk action create sn-user-mentions user_mentions.go --kind go:1.26
package main

import (
	"fmt"
	"regexp"
	"strings"
)

var (
	users   = map[string]int{"alice": 1001, "bob": 1002, "carol": 1003, "dave": 1004}
	mention = regexp.MustCompile(`(?:^|[^\w@])@(\w+)`)
)

// Main returns {"post_id", "author", "mentions", "unknown"}.
func Main(args map[string]interface{}) map[string]interface{} {
	post, _ := args["post"].(map[string]interface{})
	user, _ := post["user"].(string)
	text, _ := post["text"].(string)
	author, ok := users[strings.ToLower(user)]
	if !ok {
		return map[string]interface{}{"error": fmt.Sprintf("sn-user-mentions: the author %q is not a user", user)}
	}
	mentions, unknown := []interface{}{}, []interface{}{}
	seen := map[string]bool{}
	for _, m := range mention.FindAllStringSubmatch(text, -1) {
		name := strings.ToLower(m[1])
		if seen[name] {
			continue
		}
		seen[name] = true
		if id, ok := users[name]; ok {
			mentions = append(mentions, map[string]interface{}{"name": name, "user_id": id})
		} else {
			unknown = append(unknown, name)
		}
	}
	fmt.Printf("user-mentions: %d resolved, %d unknown\n", len(mentions), len(unknown))
	return map[string]interface{}{
		"post_id":  args["post_id"],
		"author":   map[string]interface{}{"name": strings.ToLower(user), "user_id": author},
		"mentions": mentions,
		"unknown":  unknown,
	}
}
