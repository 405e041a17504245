// Writes tests/data/java-v4-double-encoding.txt: inputs (S3-style RFC 2047 values) and what Java S3EC
// v4's decoder (ContentMetadataDecodingStrategy.decodeS3CustomEncoding) returns for each, both base64.
// Run: java -cp "<java-v4 jars>" GenJavaDoubleEncoding.java > ../data/java-v4-double-encoding.txt
import java.lang.reflect.Method;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import software.amazon.encryption.s3.internal.ContentMetadataDecodingStrategy;

public class GenJavaDoubleEncoding {
    // What S3 returns for a header sent as raw UTF-8: each byte read as Latin-1, then RFC 2047 B-encoded.
    static String s3B(String sent) {
        String latin1 = new String(sent.getBytes(StandardCharsets.UTF_8), StandardCharsets.ISO_8859_1);
        return "=?UTF-8?B?" + Base64.getEncoder().encodeToString(latin1.getBytes(StandardCharsets.UTF_8)) + "?=";
    }

    public static void main(String[] a) throws Exception {
        Method m = ContentMetadataDecodingStrategy.class.getDeclaredMethod("decodeS3CustomEncoding", String.class);
        m.setAccessible(true);
        String[] inputs = {
            "{\"aws:x-amz-cek-alg\":\"115\"}",
            s3B("{\"city\":\"Zürich\"}"),
            s3B("{\"k\":\"é\",\"aws:x-amz-cek-alg\":\"AES/GCM/NoPadding\"}"),
            s3B("{\"ß\":\"ñ\"}"),
            "=?UTF-8?Q?{\"k\":\"=C3=83=C2=A9\"}?=",
            "=?UTF-8?B?e30=?= =?UTF-8?B?e30=?=",
            "x =?UTF-8?Q?a?= y",
            "=?ISO-8859-1?Q?{\"k\":\"=E9\"}?=",
            "{\"k\":\"=?UTF-8?Q?x?=\"}",
        };
        for (String in : inputs) {
            String out = (String) m.invoke(null, in);
            System.out.println(Base64.getEncoder().encodeToString(in.getBytes(StandardCharsets.UTF_8)) + " "
                + Base64.getEncoder().encodeToString(out.getBytes(StandardCharsets.UTF_8)));
        }
    }
}
