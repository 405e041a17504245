// Peer harness: drives aws-sdk-go v1 s3crypto (Debian golang-github-aws-aws-sdk-go-dev, built in
// GOPATH mode) with the uniform command line of xtask/peers/README.md; one JSON line per command.
// --format v1 uses the deprecated EncryptionClient (KMS wrap "kms", AES-CBC content);
// --format v2 uses EncryptionClientV2 (kms+context, AES-GCM). The encryption context of a put is
// the KMS key generator's material description, which is how s3crypto carries one.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/aws/credentials"
	"github.com/aws/aws-sdk-go/aws/session"
	"github.com/aws/aws-sdk-go/service/kms"
	"github.com/aws/aws-sdk-go/service/s3"
	"github.com/aws/aws-sdk-go/service/s3/s3crypto"
)

type args struct {
	op, endpoint, kmsEndpoint, region, bucket, key, keyring string
	format, storage, in, out, rng, suffix                   string
	context                                                 map[string]string
	legacy                                                  bool
}

func parse(argv []string) (*args, error) {
	if len(argv) == 0 {
		return nil, fmt.Errorf("usage: put|get --endpoint URL ...")
	}
	a := &args{op: argv[0], region: "us-west-2", format: "v2", storage: "metadata", context: map[string]string{}}
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
		case "--in":
			a.in = v
		case "--out":
			a.out = v
		case "--range":
			a.rng = v
		case "--suffix":
			a.suffix = v
		case "--policy":
			// s3crypto has no commitment policy: it reads no V3 object at all.
		case "--context":
			k, val, ok := strings.Cut(v, "=")
			if !ok {
				return nil, fmt.Errorf("expected k=v, got %s", v)
			}
			a.context[k] = val
		default:
			return nil, fmt.Errorf("%s is not supported by aws-sdk-go v1 s3crypto", f)
		}
	}
	if a.kmsEndpoint == "" {
		a.kmsEndpoint = a.endpoint
	}
	return a, nil
}

func run(a *args) (map[string]any, error) {
	sess, err := session.NewSession(&aws.Config{
		Region:           aws.String(a.region),
		Endpoint:         aws.String(a.endpoint),
		S3ForcePathStyle: aws.Bool(true),
		Credentials:      credentials.NewStaticCredentials("testing", "testing", ""),
		MaxRetries:       aws.Int(0),
	})
	if err != nil {
		return nil, err
	}
	kmsc := kms.New(sess, &aws.Config{Endpoint: aws.String(a.kmsEndpoint)})
	s3c := s3.New(sess)
	if !strings.HasPrefix(a.keyring, "kms:") {
		return nil, fmt.Errorf("this harness drives s3crypto with KMS only, not %q", a.keyring)
	}
	keyID := strings.TrimPrefix(a.keyring, "kms:")
	suffix := a.suffix
	if suffix == "" {
		suffix = ".instruction"
	}
	switch a.op {
	case "put":
		body, err := os.ReadFile(a.in)
		if err != nil {
			return nil, err
		}
		input := &s3.PutObjectInput{Bucket: &a.bucket, Key: &a.key, Body: bytes.NewReader(body)}
		var save s3crypto.SaveStrategy = s3crypto.HeaderV2SaveStrategy{}
		if a.storage == "instruction" {
			save = s3crypto.S3SaveStrategy{Client: s3c, InstructionFileSuffix: suffix}
		}
		if a.format == "v1" {
			if len(a.context) > 0 {
				return nil, fmt.Errorf("the V1 client takes no encryption context")
			}
			gen := s3crypto.NewKMSKeyGenerator(kmsc, keyID)
			c := s3crypto.NewEncryptionClient(sess, s3crypto.AESCBCContentCipherBuilder(gen, s3crypto.AESCBCPadder),
				func(c *s3crypto.EncryptionClient) { c.SaveStrategy = save })
			_, err = c.PutObject(input)
		} else {
			gen := s3crypto.NewKMSContextKeyGenerator(kmsc, keyID, s3crypto.MaterialDescription(toPtrs(a.context)))
			c, cerr := s3crypto.NewEncryptionClientV2(sess, s3crypto.AESGCMContentCipherBuilderV2(gen),
				func(o *s3crypto.EncryptionClientOptions) { o.SaveStrategy = save })
			if cerr != nil {
				return nil, cerr
			}
			_, err = c.PutObject(input)
		}
		if err != nil {
			return nil, err
		}
		return map[string]any{}, nil
	case "get":
		cr := s3crypto.NewCryptoRegistry()
		if err := s3crypto.RegisterKMSContextWrapWithCMK(cr, kmsc, keyID); err != nil {
			return nil, err
		}
		if err := s3crypto.RegisterAESGCMContentCipher(cr); err != nil {
			return nil, err
		}
		if a.legacy {
			if err := s3crypto.RegisterKMSWrapWithCMK(cr, kmsc, keyID); err != nil {
				return nil, err
			}
			if err := s3crypto.RegisterAESCBCContentCipher(cr, s3crypto.AESCBCPadder); err != nil {
				return nil, err
			}
		}
		c, err := s3crypto.NewDecryptionClientV2(sess, cr)
		if err != nil {
			return nil, err
		}
		in := &s3.GetObjectInput{Bucket: &a.bucket, Key: &a.key}
		if a.rng != "" {
			in.Range = aws.String(a.rng)
		}
		out, err := c.GetObject(in)
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
	return nil, fmt.Errorf("unknown or unsupported operation %s", a.op)
}

func toPtrs(m map[string]string) map[string]*string {
	out := map[string]*string{}
	for k, v := range m {
		out[k] = aws.String(v)
	}
	return out
}

func once(argv []string) []byte {
	res := map[string]any{"peer": "go-v1"}
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
	if len(os.Args) == 2 && os.Args[1] == "batch" {
		sc := bufio.NewScanner(os.Stdin)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if sc.Text() != "" {
				fmt.Println(string(once(strings.Split(sc.Text(), "\t"))))
			}
		}
		return
	}
	line := once(os.Args[1:])
	fmt.Println(string(line))
	if !bytes.Contains(line, []byte(`"ok":true`)) {
		os.Exit(1)
	}
}
