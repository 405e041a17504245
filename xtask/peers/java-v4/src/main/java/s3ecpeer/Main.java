// Peer harness: drives the Amazon S3 Encryption Client for Java v4 with the uniform command line of
// xtask/peers/README.md and prints one JSON result line on stdout.
package s3ecpeer;

import java.io.PrintStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyFactory;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.interfaces.RSAPrivateCrtKey;
import java.security.spec.PKCS8EncodedKeySpec;
import java.security.spec.RSAPublicKeySpec;
import java.security.spec.X509EncodedKeySpec;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import javax.crypto.SecretKey;
import javax.crypto.spec.SecretKeySpec;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.core.ResponseBytes;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.kms.KmsClient;
import software.amazon.awssdk.services.s3.S3AsyncClient;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.CompleteMultipartUploadRequest;
import software.amazon.awssdk.services.s3.model.CompletedMultipartUpload;
import software.amazon.awssdk.services.s3.model.CompletedPart;
import software.amazon.awssdk.services.s3.model.CreateMultipartUploadRequest;
import software.amazon.awssdk.services.s3.model.GetObjectRequest;
import software.amazon.awssdk.services.s3.model.GetObjectResponse;
import software.amazon.awssdk.services.s3.model.PutObjectRequest;
import software.amazon.awssdk.services.s3.model.SdkPartType;
import software.amazon.awssdk.services.s3.model.UploadPartRequest;
import software.amazon.awssdk.services.s3.model.UploadPartResponse;
import software.amazon.encryption.s3.CommitmentPolicy;
import software.amazon.encryption.s3.S3EncryptionClient;
import software.amazon.encryption.s3.algorithms.AlgorithmSuite;
import software.amazon.encryption.s3.internal.InstructionFileConfig;
import software.amazon.encryption.s3.internal.ReEncryptInstructionFileRequest;
import software.amazon.encryption.s3.materials.AesKeyring;
import software.amazon.encryption.s3.materials.Keyring;
import software.amazon.encryption.s3.materials.KmsKeyring;
import software.amazon.encryption.s3.materials.MaterialsDescription;
import software.amazon.encryption.s3.materials.PartialRsaKeyPair;
import software.amazon.encryption.s3.materials.RawKeyring;
import software.amazon.encryption.s3.materials.RsaKeyring;

public final class Main {
    private static final class Args {
        String op;
        String endpoint;
        String kmsEndpoint;
        String region = "us-west-2";
        String bucket;
        String key;
        String keyring;
        String newKeyring;
        String format = "v3";
        String storage = "metadata";
        String policy;
        Map<String, String> context = new LinkedHashMap<>();
        Map<String, String> matdesc = new LinkedHashMap<>();
        Map<String, String> newMatdesc = new LinkedHashMap<>();
        String in;
        String out;
        String range;
        String suffix;
        boolean legacy;
        long multipart;
    }

    public static void main(String[] argv) throws Exception {
        // Everything the SDK logs goes to stderr; stdout carries only the result lines.
        PrintStream result = System.out;
        System.setOut(System.err);
        if (argv.length == 1 && argv[0].equals("batch")) {
            // One command per stdin line, arguments separated by TAB; one result line each.
            java.io.BufferedReader in = new java.io.BufferedReader(
                    new java.io.InputStreamReader(System.in, StandardCharsets.UTF_8));
            for (String line; (line = in.readLine()) != null; ) {
                if (line.isEmpty()) continue;
                result.println(once(line.split("\t", -1)));
                result.flush();
            }
            System.exit(0);
        }
        String line = once(argv);
        result.println(line);
        result.flush();
        System.exit(line.startsWith("{\"ok\":true") ? 0 : 1);
    }

    private static String once(String[] argv) {
        try {
            Args a = parse(argv);
            String detail = run(a);
            return "{\"ok\":true,\"peer\":\"java-v4\",\"op\":" + q(a.op) + detail + "}";
        } catch (Throwable t) {
            StringBuilder causes = new StringBuilder();
            for (Throwable c = t.getCause(); c != null && c != c.getCause(); c = c.getCause()) {
                if (causes.length() > 0) causes.append(" <- ");
                causes.append(c.getClass().getName()).append(": ").append(String.valueOf(c.getMessage()));
            }
            return "{\"ok\":false,\"peer\":\"java-v4\",\"error_class\":" + q(t.getClass().getName())
                    + ",\"error\":" + q(String.valueOf(t.getMessage())) + ",\"cause\":" + q(causes.toString()) + "}";
        }
    }

    private static Args parse(String[] argv) {
        Args a = new Args();
        if (argv.length == 0) throw new IllegalArgumentException("usage: put|get|reencrypt --endpoint URL ...");
        a.op = argv[0];
        for (int i = 1; i < argv.length; i++) {
            String f = argv[i];
            if (f.equals("--legacy")) { a.legacy = true; continue; }
            if (i + 1 >= argv.length) throw new IllegalArgumentException("missing value for " + f);
            String v = argv[++i];
            switch (f) {
                case "--endpoint": a.endpoint = v; break;
                case "--kms-endpoint": a.kmsEndpoint = v; break;
                case "--region": a.region = v; break;
                case "--bucket": a.bucket = v; break;
                case "--key": a.key = v; break;
                case "--keyring": a.keyring = v; break;
                case "--new-keyring": a.newKeyring = v; break;
                case "--format": a.format = v; break;
                case "--storage": a.storage = v; break;
                case "--policy": a.policy = v; break;
                case "--context": kv(a.context, v); break;
                case "--matdesc": kv(a.matdesc, v); break;
                case "--new-matdesc": kv(a.newMatdesc, v); break;
                case "--in": a.in = v; break;
                case "--out": a.out = v; break;
                case "--range": a.range = v; break;
                case "--suffix": a.suffix = v; break;
                case "--multipart": a.multipart = Long.parseLong(v); break;
                default: throw new IllegalArgumentException("unknown flag " + f);
            }
        }
        if (a.kmsEndpoint == null) a.kmsEndpoint = a.endpoint;
        return a;
    }

    private static void kv(Map<String, String> m, String v) {
        int eq = v.indexOf('=');
        if (eq < 0) throw new IllegalArgumentException("expected k=v, got " + v);
        m.put(v.substring(0, eq), v.substring(eq + 1));
    }

    private static String run(Args a) throws Exception {
        StaticCredentialsProvider creds =
                StaticCredentialsProvider.create(AwsBasicCredentials.create("testing", "testing"));
        Region region = Region.of(a.region);
        S3Client plain = S3Client.builder().region(region).credentialsProvider(creds)
                .endpointOverride(URI.create(a.endpoint)).forcePathStyle(true).build();
        // moto's HTTP server answers "Expect: 100-continue" in a way the async (netty) client reports
        // as a failed upload, so the header is dropped; it changes nothing in what is stored.
        software.amazon.awssdk.core.interceptor.ExecutionInterceptor noExpect =
                new software.amazon.awssdk.core.interceptor.ExecutionInterceptor() {
                    @Override
                    public software.amazon.awssdk.http.SdkHttpRequest modifyHttpRequest(
                            software.amazon.awssdk.core.interceptor.Context.ModifyHttpRequest ctx,
                            software.amazon.awssdk.core.interceptor.ExecutionAttributes attrs) {
                        return ctx.httpRequest().toBuilder().removeHeader("Expect").build();
                    }
                };
        S3AsyncClient plainAsync = S3AsyncClient.builder().region(region).credentialsProvider(creds)
                .endpointOverride(URI.create(a.endpoint)).forcePathStyle(true)
                .overrideConfiguration(o -> o.addExecutionInterceptor(noExpect)).build();
        KmsClient kms = KmsClient.builder().region(region).credentialsProvider(creds)
                .endpointOverride(URI.create(a.kmsEndpoint)).build();

        boolean v2 = a.format.equals("v2");
        CommitmentPolicy policy;
        if (a.policy != null) {
            policy = policyOf(a.policy);
        } else if (a.op.equals("put") || a.op.equals("reencrypt")) {
            policy = v2 ? CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT : CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT;
        } else {
            policy = CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT;
        }
        AlgorithmSuite suite = policy == CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT
                ? AlgorithmSuite.ALG_AES_256_GCM_IV12_TAG16_NO_KDF
                : AlgorithmSuite.ALG_AES_256_GCM_HKDF_SHA512_COMMIT_KEY;
        boolean instruction = a.storage.equals("instruction") || a.op.equals("reencrypt");
        InstructionFileConfig ifc = InstructionFileConfig.builder()
                .instructionFileClient(plain)
                .enableInstructionFilePutObject(instruction)
                .build();
        Keyring keyring = keyring(a.keyring, a.matdesc, kms, a.legacy);
        S3EncryptionClient client = S3EncryptionClient.builderV4()
                .wrappedClient(plain)
                .wrappedAsyncClient(plainAsync)
                .keyring(keyring)
                .commitmentPolicy(policy)
                .encryptionAlgorithm(suite)
                .enableLegacyWrappingAlgorithms(a.legacy)
                .enableLegacyUnauthenticatedModes(a.legacy || a.range != null)
                .instructionFileConfig(ifc)
                .build();
        try {
            switch (a.op) {
                case "put": {
                    // An SDK-level retry of a put re-sends a GCM stream under the same key and IV,
                    // which 4.0.1 refuses; the harness retries the whole operation instead (fresh
                    // data key and IV), as the client's own error message advises.
                    RuntimeException last = null;
                    for (int attempt = 0; attempt < 3; attempt++) {
                        try {
                            return put(a, client);
                        } catch (RuntimeException e) {
                            last = e;
                        }
                    }
                    throw last;
                }
                case "get": return get(a, client);
                case "reencrypt": return reencrypt(a, client, kms);
                default: throw new IllegalArgumentException("unknown operation " + a.op);
            }
        } finally {
            client.close();
        }
    }

    private static CommitmentPolicy policyOf(String p) {
        switch (p) {
            case "forbid": return CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT;
            case "require-allow": return CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT;
            case "require-require": return CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT;
            default: throw new IllegalArgumentException("unknown policy " + p);
        }
    }

    private static String put(Args a, S3EncryptionClient client) throws Exception {
        byte[] body = Files.readAllBytes(Path.of(a.in));
        if (a.multipart > 0) {
            CreateMultipartUploadRequest.Builder cb = CreateMultipartUploadRequest.builder().bucket(a.bucket).key(a.key);
            if (!a.context.isEmpty()) cb.overrideConfiguration(S3EncryptionClient.withAdditionalConfiguration(a.context));
            String uploadId = client.createMultipartUpload(cb.build()).uploadId();
            List<CompletedPart> parts = new ArrayList<>();
            int n = 1;
            for (long off = 0; off < body.length || n == 1; off += a.multipart, n++) {
                int end = (int) Math.min(body.length, off + a.multipart);
                boolean last = end >= body.length;
                byte[] chunk = java.util.Arrays.copyOfRange(body, (int) off, end);
                UploadPartRequest.Builder ub = UploadPartRequest.builder().bucket(a.bucket).key(a.key)
                        .uploadId(uploadId).partNumber(n).contentLength((long) chunk.length);
                if (last) ub.sdkPartType(SdkPartType.LAST);
                UploadPartResponse r = client.uploadPart(ub.build(), RequestBody.fromBytes(chunk));
                parts.add(CompletedPart.builder().partNumber(n).eTag(r.eTag()).build());
                if (last) break;
            }
            client.completeMultipartUpload(CompleteMultipartUploadRequest.builder().bucket(a.bucket).key(a.key)
                    .uploadId(uploadId).multipartUpload(CompletedMultipartUpload.builder().parts(parts).build()).build());
            return ",\"parts\":" + parts.size();
        }
        PutObjectRequest.Builder pb = PutObjectRequest.builder().bucket(a.bucket).key(a.key);
        if (!a.context.isEmpty()) pb.overrideConfiguration(S3EncryptionClient.withAdditionalConfiguration(a.context));
        client.putObject(pb.build(), RequestBody.fromBytes(body));
        return "";
    }

    private static String get(Args a, S3EncryptionClient client) throws Exception {
        GetObjectRequest.Builder gb = GetObjectRequest.builder().bucket(a.bucket).key(a.key);
        if (a.range != null) gb.range(a.range);
        if (!a.context.isEmpty() && a.suffix != null) {
            Map<String, String> ctx = a.context;
            String sfx = a.suffix;
            gb.overrideConfiguration(o -> {
                S3EncryptionClient.withAdditionalConfiguration(ctx).accept(o);
                S3EncryptionClient.withCustomInstructionFileSuffix(sfx).accept(o);
            });
        } else if (!a.context.isEmpty()) {
            gb.overrideConfiguration(S3EncryptionClient.withAdditionalConfiguration(a.context));
        } else if (a.suffix != null) {
            gb.overrideConfiguration(S3EncryptionClient.withCustomInstructionFileSuffix(a.suffix));
        }
        ResponseBytes<GetObjectResponse> r = client.getObjectAsBytes(gb.build());
        byte[] pt = r.asByteArray();
        if (a.out != null) Files.write(Path.of(a.out), pt);
        return ",\"len\":" + pt.length;
    }

    private static String reencrypt(Args a, S3EncryptionClient client, KmsClient kms) throws Exception {
        if (a.newKeyring == null) throw new IllegalArgumentException("reencrypt needs --new-keyring");
        Keyring nk = keyring(a.newKeyring, a.newMatdesc, kms, false);
        if (!(nk instanceof RawKeyring)) throw new IllegalArgumentException("reencrypt needs an aes or rsa keyring");
        ReEncryptInstructionFileRequest.Builder rb = ReEncryptInstructionFileRequest.builder()
                .bucket(a.bucket).key(a.key).newKeyring((RawKeyring) nk);
        // The builder adds the dot itself; the command line always carries it.
        if (a.suffix != null) rb.instructionFileSuffix(a.suffix.startsWith(".") ? a.suffix.substring(1) : a.suffix);
        client.reEncryptInstructionFile(rb.build());
        return "";
    }

    private static Keyring keyring(String spec, Map<String, String> matdesc, KmsClient kms, boolean legacy)
            throws Exception {
        if (spec == null) throw new IllegalArgumentException("missing --keyring");
        MaterialsDescription md = MaterialsDescription.builder().putAll(matdesc).build();
        if (spec.startsWith("aes:")) {
            byte[] raw = Files.readAllBytes(Path.of(spec.substring(4)));
            SecretKey k = new SecretKeySpec(raw, "AES");
            return AesKeyring.builder().wrappingKey(k).materialsDescription(md)
                    .enableLegacyWrappingAlgorithms(legacy).build();
        }
        if (spec.startsWith("rsa:")) {
            String[] parts = spec.substring(4).split(":", 2);
            KeyFactory kf = KeyFactory.getInstance("RSA");
            PrivateKey priv = null;
            PublicKey pub = null;
            if (!parts[0].isEmpty()) priv = kf.generatePrivate(new PKCS8EncodedKeySpec(pem(parts[0])));
            if (parts.length > 1 && !parts[1].isEmpty()) {
                pub = kf.generatePublic(new X509EncodedKeySpec(pem(parts[1])));
            } else if (priv instanceof RSAPrivateCrtKey) {
                RSAPrivateCrtKey crt = (RSAPrivateCrtKey) priv;
                pub = kf.generatePublic(new RSAPublicKeySpec(crt.getModulus(), crt.getPublicExponent()));
            }
            PartialRsaKeyPair.Builder kp = PartialRsaKeyPair.builder();
            if (priv != null) kp.privateKey(priv);
            if (pub != null) kp.publicKey(pub);
            return RsaKeyring.builder().wrappingKeyPair(kp.build()).materialsDescription(md)
                    .enableLegacyWrappingAlgorithms(legacy).build();
        }
        if (spec.startsWith("kms:")) {
            return KmsKeyring.builder().kmsClient(kms).wrappingKeyId(spec.substring(4))
                    .enableLegacyWrappingAlgorithms(legacy).build();
        }
        throw new IllegalArgumentException("unknown keyring " + spec);
    }

    private static byte[] pem(String file) throws Exception {
        String text = new String(Files.readAllBytes(Path.of(file)), StandardCharsets.US_ASCII);
        StringBuilder b64 = new StringBuilder();
        for (String line : text.split("\n")) {
            if (!line.startsWith("-----")) b64.append(line.trim());
        }
        return Base64.getDecoder().decode(b64.toString());
    }

    private static String q(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') b.append('\\').append(c);
            else if (c < 0x20 || c > 0x7e) b.append(String.format("\\u%04x", (int) c));
            else b.append(c);
        }
        return b.append('"').toString();
    }
}
