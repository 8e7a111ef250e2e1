// sn-unique-id: gives a post its 64-bit id, laid out like DeathStarBench's
// unique-id service (a Snowflake id: 41 bits of "time", 10 bits of machine,
// 12 bits of sequence), except that every part is derived from a SHA-256 of
// the author and the text instead of a clock and a counter, so the same
// post always gets the same id. The id is a decimal string (JSON numbers
// lose precision beyond 2^53).
//
//	wsk action create sn-unique-id unique_id.go --kind go:1.26
package main

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strconv"
)

// Main returns {"post_id", "post"}: the id and the post, for the next steps.
func Main(args map[string]interface{}) map[string]interface{} {
	post, _ := args["post"].(map[string]interface{})
	user, _ := post["user"].(string)
	text, _ := post["text"].(string)
	if user == "" || text == "" {
		return map[string]interface{}{"error": "sn-unique-id: the input needs a post with a user and a text"}
	}
	h := sha256.Sum256([]byte(user + "\x00" + text))
	ts := binary.BigEndian.Uint64(h[0:8]) & (1<<41 - 1)
	machine := uint64(binary.BigEndian.Uint16(h[8:10])) & (1<<10 - 1)
	seq := uint64(binary.BigEndian.Uint16(h[10:12])) & (1<<12 - 1)
	id := ts<<22 | machine<<12 | seq
	fmt.Printf("unique-id: post by %s is %d\n", user, id)
	return map[string]interface{}{"post_id": strconv.FormatUint(id, 10), "post": post}
}
