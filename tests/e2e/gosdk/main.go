// gosdk: calls STS GetCallerIdentity through aws-sdk-go-v2's default
// credential chain, as an application in an injected pod would. Everything
// comes from the environment (AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN,
// AWS_ROLE_SESSION_NAME, AWS_REGION, AWS_ENDPOINT_URL_STS, ...).
//
//	gosdk [-n CALLS] [-interval 1s]
//
// Prints one JSON object per call on stdout:
//
//	{"ok":true,"arn":"...","akid":"ASIA...","account":"...","user_id":"..."}
//	{"ok":false,"code":"AccessDenied","message":"...","error":"..."}
//
// Exits 0 when every call succeeded, 1 otherwise, 2 when the config cannot
// be loaded.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
)

type result struct {
	OK      bool   `json:"ok"`
	Arn     string `json:"arn,omitempty"`
	AKID    string `json:"akid,omitempty"` // access key id of the credentials used (not secret)
	Account string `json:"account,omitempty"`
	UserID  string `json:"user_id,omitempty"`
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
	Error   string `json:"error,omitempty"`
}

func main() {
	n := flag.Int("n", 1, "number of GetCallerIdentity calls")
	interval := flag.Duration("interval", time.Second, "pause between calls")
	flag.Parse()

	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gosdk: load config:", err)
		os.Exit(2)
	}
	client := sts.NewFromConfig(cfg)
	enc := json.NewEncoder(os.Stdout)
	failed := false
	for i := 0; i < *n; i++ {
		if i > 0 {
			time.Sleep(*interval)
		}
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		out, err := client.GetCallerIdentity(cctx, &sts.GetCallerIdentityInput{})
		cancel()
		r := result{OK: err == nil}
		if err != nil {
			failed = true
			r.Error = err.Error()
			var apiErr smithy.APIError
			if errors.As(err, &apiErr) {
				r.Code = apiErr.ErrorCode()
				r.Message = apiErr.ErrorMessage()
			}
		} else {
			r.Arn = aws.ToString(out.Arn)
			r.Account = aws.ToString(out.Account)
			r.UserID = aws.ToString(out.UserId)
			if c, err := cfg.Credentials.Retrieve(ctx); err == nil {
				r.AKID = c.AccessKeyID
			}
		}
		_ = enc.Encode(r)
	}
	if failed {
		os.Exit(1)
	}
}
