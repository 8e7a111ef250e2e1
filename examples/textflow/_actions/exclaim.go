// The third step of the textflow example, as Go source (OpenWhisk's Go
// runtime convention: package main with a Main function, compiled at
// /init by the sandbox's Go runtime).
//
//	wsk action create textflow-exclaim exclaim.go --kind go:1.26
package main

import "fmt"

// Main turns the text and its word count into a message.
func Main(args map[string]interface{}) map[string]interface{} {
	text, _ := args["text"].(string)
	words, _ := args["words"].(float64)
	fmt.Println("exclaim: building the message")
	return map[string]interface{}{"message": fmt.Sprintf("%s! (%d words)", text, int(words))}
}
