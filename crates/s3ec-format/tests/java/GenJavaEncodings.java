// Writes tests/data/java-v4-encodings.txt: what the Java S3EC v4 encoder writes (object metadata and
// instruction files) for the envelopes listed below, so the Rust encoder can be compared byte for byte.
// Run: java -cp "<java-v4 jars>" GenJavaEncodings.java > ../data/java-v4-encodings.txt
// The same envelopes are built on the Rust side in tests/java_encodings.rs.
import java.lang.reflect.Proxy;
import java.util.*;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.PutObjectRequest;
import software.amazon.awssdk.services.s3.model.PutObjectResponse;
import software.amazon.encryption.s3.algorithms.AlgorithmSuite;
import software.amazon.encryption.s3.internal.ContentMetadataEncodingStrategy;
import software.amazon.encryption.s3.internal.InstructionFileConfig;
import software.amazon.encryption.s3.materials.EncryptedDataKey;
import software.amazon.encryption.s3.materials.EncryptionMaterials;
import software.amazon.encryption.s3.materials.MaterialsDescription;

public class GenJavaEncodings {
    static final Base64.Encoder B64 = Base64.getEncoder();

    static byte[] fill(int n, int b) { byte[] a = new byte[n]; Arrays.fill(a, (byte) b); return a; }

    static void emit(String name, boolean committing, String wrap, int edkLen,
                     Map<String, String> ec, Map<String, String> md) throws Exception {
        for (boolean instr : new boolean[]{false, true}) {
            List<PutObjectRequest> putReqs = new ArrayList<>();
            List<byte[]> putBodies = new ArrayList<>();
            S3Client fake = (S3Client) Proxy.newProxyInstance(S3Client.class.getClassLoader(),
                new Class<?>[]{S3Client.class}, (p, m, args) -> {
                    if (m.getName().equals("putObject") && args.length == 2 && args[1] instanceof RequestBody) {
                        putReqs.add((PutObjectRequest) args[0]);
                        putBodies.add(((RequestBody) args[1]).contentStreamProvider().newStream().readAllBytes());
                        return PutObjectResponse.builder().build();
                    }
                    if (m.getName().equals("serviceName")) return "s3";
                    return null;
                });
            InstructionFileConfig cfg = InstructionFileConfig.builder()
                .instructionFileClient(fake).enableInstructionFilePutObject(instr).build();
            MaterialsDescription.Builder mdb = MaterialsDescription.builder();
            md.forEach(mdb::put);
            EncryptionMaterials.Builder b = EncryptionMaterials.builder()
                .algorithmSuite(committing ? AlgorithmSuite.ALG_AES_256_GCM_HKDF_SHA512_COMMIT_KEY
                                           : AlgorithmSuite.ALG_AES_256_GCM_IV12_TAG16_NO_KDF)
                .encryptedDataKeys(List.of(EncryptedDataKey.builder().keyProviderId("S3Keyring")
                    .keyProviderInfo(wrap).encryptedDataKey(fill(edkLen, 7)).build()))
                .encryptionContext(ec)
                .materialsDescription(mdb.build());
            EncryptionMaterials mat = b.build();
            if (committing) mat.setKeyCommitment(fill(28, 5));
            byte[] nonce = committing ? fill(28, 6) : fill(12, 1);
            PutObjectRequest req = PutObjectRequest.builder().bucket("b").key("k").build();
            PutObjectRequest out = new ContentMetadataEncodingStrategy(cfg).encodeMetadata(mat, nonce, req);
            System.out.println("case " + name + (instr ? " instruction-file" : " object-metadata"));
            new TreeMap<>(out.metadata()).forEach((k, v) ->
                System.out.println("meta " + k + " " + B64.encodeToString(v.getBytes(java.nio.charset.StandardCharsets.UTF_8))));
            for (int i = 0; i < putBodies.size(); i++) {
                System.out.println("file " + B64.encodeToString(putBodies.get(i)));
                new TreeMap<>(putReqs.get(i).metadata()).forEach((k, v) ->
                    System.out.println("file-meta " + k + " " + B64.encodeToString(v.getBytes(java.nio.charset.StandardCharsets.UTF_8))));
            }
        }
    }

    public static void main(String[] a) throws Exception {
        Map<String, String> none = Map.of();
        String tricky = "q\"b\\s/n\nt\tc\u0001d\u007fe\u00e9u\u2028z\ud83d\ude00";
        emit("v2-aesgcm-empty", false, "AES/GCM", 60, none, none);
        emit("v2-rsa-md", false, "RSA-OAEP-SHA1", 256, none, Map.of("k", tricky));
        emit("v2-kms", false, "kms+context", 96, Map.of("aws:x-amz-cek-alg", "AES/GCM/NoPadding"), none);
        emit("v3-aesgcm-empty", true, "AES/GCM", 60, none, none);
        emit("v3-aesgcm-md", true, "AES/GCM", 60, none, Map.of(tricky, "v"));
        emit("v3-rsa-md", true, "RSA-OAEP-SHA1", 256, none, Map.of("rotation", "2"));
        emit("v3-kms", true, "kms+context", 96, Map.of("aws:x-amz-cek-alg", "115"), none);
    }
}
