// Command kstatus-check computes kstatus (sigs.k8s.io/cli-utils/pkg/kstatus/status, the library
// Flux's health checks use) for Kubernetes objects: one JSON object per input line, one JSON
// result per output line ({"status": "Current", "message": "..."} or {"error": "..."}). The
// operator's tests judge every status the operator writes with it.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

func main() {
	scanner := bufio.NewScanner(os.Stdin)
	scanner.Buffer(make([]byte, 1<<20), 64<<20)
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	for scanner.Scan() {
		result := map[string]string{}
		obj := &unstructured.Unstructured{}
		if err := obj.UnmarshalJSON(scanner.Bytes()); err != nil {
			result["error"] = err.Error()
		} else if res, err := status.Compute(obj); err != nil {
			result["error"] = err.Error()
		} else {
			result["status"] = res.Status.String()
			result["message"] = res.Message
		}
		line, err := json.Marshal(result)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Fprintln(out, string(line))
	}
	if err := scanner.Err(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
