// Peer harness: drives the Amazon S3 Encryption Client for Go v4 with the uniform command line of
// xtask/peers/README.md and prints one JSON result line per command on stdout.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"os"
	"strings"

	"github.com/aws/amazon-s3-encryption-client-go/v4/algorithms"
	"github.com/aws/amazon-s3-encryption-client-go/v4/client"
	"github.com/aws/amazon-s3-encryption-client-go/v4/commitment"
	"github.com/aws/amazon-s3-encryption-client-go/v4/materials"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

type args struct {
	op, endpoint, kmsEndpoint, region, bucket, key, keyring string
	format, storage, policy, in, out, rng, suffix           string
	context, matdesc                                        map[string]string
	legacy                                                  bool
}

func parse(argv []string) (*args, error) {
	if len(argv) == 0 {
		return nil, fmt.Errorf("usage: put|get --endpoint URL ...")
	}
	a := &args{op: argv[0], region: "us-west-2", format: "v3", storage: "metadata",
		context: map[string]string{}, matdesc: map[string]string{}}
	for i := 1; i < len(argv); i++ {
		f := argv[i]
		if f == "--legacy" {
			a.legacy = true
			continue
		}
		if i+1 >= len(argv) {
			return nil, fmt.Errorf("missing value for %s", f)
		}
		i++
		v := argv[i]
		switch f {
		case "--endpoint":
			a.endpoint = v
		case "--kms-endpoint":
			a.kmsEndpoint = v
		case "--region":
			a.region = v
		case "--bucket":
			a.bucket = v
		case "--key":
			a.key = v
		case "--keyring":
			a.keyring = v
		case "--format":
			a.format = v
		case "--storage":
			a.storage = v
		case "--policy":
			a.policy = v
		case "--in":
			a.in = v
		case "--out":
			a.out = v
		case "--range":
			a.rng = v
		case "--suffix":
			a.suffix = v
		case "--context", "--matdesc":
			k, val, ok := strings.Cut(v, "=")
			if !ok {
				return nil, fmt.Errorf("expected k=v, got %s", v)
			}
			if f == "--context" {
				a.context[k] = val
			} else {
				a.matdesc[k] = val
			}
		case "--multipart", "--new-keyring", "--new-matdesc":
			return nil, fmt.Errorf("%s is not supported by the Go v4 client", f)
		default:
			return nil, fmt.Errorf("unknown flag %s", f)
		}
	}
	if a.kmsEndpoint == "" {
		a.kmsEndpoint = a.endpoint
	}
	return a, nil
}

func run(a *args) (map[string]any, error) {
	ctx := context.Background()
	creds := credentials.NewStaticCredentialsProvider("testing", "testing", "")
	s3c := s3.New(s3.Options{
		Region:                     a.region,
		Credentials:                creds,
		BaseEndpoint:               aws.String(a.endpoint),
		UsePathStyle:               true,
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
	kmsc := kms.New(kms.Options{Region: a.region, Credentials: creds, BaseEndpoint: aws.String(a.kmsEndpoint)})
	if !strings.HasPrefix(a.keyring, "kms:") {
		return nil, fmt.Errorf("the Go v4 client has only a KMS keyring, not %q", a.keyring)
	}
	if len(a.matdesc) > 0 {
		return nil, fmt.Errorf("the Go v4 KMS keyring takes no material description")
	}
	if a.storage == "instruction" && a.op == "put" {
		return nil, fmt.Errorf("the Go v4 client does not write instruction files")
	}
	keyring := materials.NewKmsKeyring(kmsc, strings.TrimPrefix(a.keyring, "kms:"), func(o *materials.KeyringOptions) {
		o.EnableLegacyWrappingAlgorithms = a.legacy
	})
	cmm, err := materials.NewCryptographicMaterialsManager(keyring)
	if err != nil {
		return nil, err
	}
	policy := commitment.REQUIRE_ENCRYPT_ALLOW_DECRYPT
	if a.op == "put" && a.policy == "" {
		if a.format == "v2" {
			policy = commitment.FORBID_ENCRYPT_ALLOW_DECRYPT
		} else {
			policy = commitment.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
		}
	}
	switch a.policy {
	case "forbid":
		policy = commitment.FORBID_ENCRYPT_ALLOW_DECRYPT
	case "require-allow":
		policy = commitment.REQUIRE_ENCRYPT_ALLOW_DECRYPT
	case "require-require":
		policy = commitment.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
	}
	suite := algorithms.AlgAES256GCMHkdfSha512CommitKey
	if policy == commitment.FORBID_ENCRYPT_ALLOW_DECRYPT {
		suite = algorithms.AlgAES256GCMIV12Tag16NoKDF
	}
	ec, err := client.New(s3c, cmm, func(o *client.EncryptionClientOptions) {
		o.CommitmentPolicy = policy
		o.EncryptionAlgorithmSuite = suite
		o.EnableLegacyUnauthenticatedModes = a.legacy || a.rng != ""
		o.Logger = log.New(os.Stderr, "", 0)
	})
	if err != nil {
		return nil, err
	}
	// The client reads the per-request encryption context from this context key.
	//lint:ignore SA1029 the client defines the key as a plain string
	rctx := context.WithValue(ctx, client.EncryptionContext, a.context)
	switch a.op {
	case "put":
		body, err := os.ReadFile(a.in)
		if err != nil {
			return nil, err
		}
		_, err = ec.PutObject(rctx, &s3.PutObjectInput{Bucket: &a.bucket, Key: &a.key, Body: bytes.NewReader(body)})
		if err != nil {
			return nil, err
		}
		return map[string]any{}, nil
	case "get":
		in := &s3.GetObjectInput{Bucket: &a.bucket, Key: &a.key}
		if a.rng != "" {
			in.Range = aws.String(a.rng)
		}
		if a.suffix != "" {
			return nil, fmt.Errorf("the Go v4 client takes no instruction-file suffix")
		}
		// Go v4 4.0.0 fetches an instruction file with a client of its own, built by
		// config.LoadDefaultConfig instead of the wrapped client, so it would ask real AWS instead
		// of the test endpoint. Refuse such objects before the client sees them.
		head, err := s3c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &a.bucket, Key: &a.key})
		if err != nil {
			return nil, err
		}
		inMetadata := false
		for k := range head.Metadata {
			switch strings.ToLower(k) {
			case "x-amz-key", "x-amz-key-v2", "x-amz-3":
				inMetadata = true
			}
		}
		if !inMetadata {
			return nil, fmt.Errorf("not attempted: the Go v4 client loads instruction files through its own default-config S3 client, which cannot be pointed at the test endpoint")
		}
		out, err := ec.GetObject(rctx, in)
		if err != nil {
			return nil, err
		}
		defer out.Body.Close()
		pt, err := io.ReadAll(out.Body)
		if err != nil {
			return nil, err
		}
		if a.out != "" {
			if err := os.WriteFile(a.out, pt, 0o644); err != nil {
				return nil, err
			}
		}
		return map[string]any{"len": len(pt)}, nil
	}
	return nil, fmt.Errorf("unknown operation %s", a.op)
}

func once(argv []string) []byte {
	res := map[string]any{"peer": "go-v4"}
	a, err := parse(argv)
	var extra map[string]any
	if err == nil {
		res["op"] = a.op
		extra, err = run(a)
	}
	if err != nil {
		res["ok"] = false
		res["error_class"] = fmt.Sprintf("%T", err)
		res["error"] = err.Error()
	} else {
		res["ok"] = true
		for k, v := range extra {
			res[k] = v
		}
	}
	line, _ := json.Marshal(res)
	return line
}

func main() {
	log.SetOutput(os.Stderr)
	if len(os.Args) == 2 && os.Args[1] == "batch" {
		sc := bufio.NewScanner(os.Stdin)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if sc.Text() == "" {
				continue
			}
			fmt.Println(string(once(strings.Split(sc.Text(), "\t"))))
		}
		return
	}
	line := once(os.Args[1:])
	fmt.Println(string(line))
	if !bytes.HasPrefix(line, []byte(`{"error`)) && bytes.Contains(line, []byte(`"ok":true`)) {
		return
	}
	os.Exit(1)
}
