# Peer harness: drives the Ruby aws-sdk-s3 encryption clients (Debian ruby-aws-sdk-s3;
# Aws::S3::Encryption::Client for --format v1, Aws::S3::EncryptionV2::Client for --format v2)
# with the uniform command line of xtask/peers/README.md; one JSON result line per command.
require 'json'
require 'base64'
require 'openssl'
require 'aws-sdk-s3'
require 'aws-sdk-kms'

# Debian's aws-sdk-kms predates the KeyId parameter of Decrypt, which the V2 client passes: drop
# it on the way out and check the key KMS answered with instead (same guarantee, older API).
class KmsWithoutDecryptKeyId
  def initialize(kms)
    @kms = kms
  end

  def decrypt(params = {})
    wanted = params.delete(:key_id)
    resp = @kms.decrypt(params)
    if wanted && resp.key_id && !resp.key_id.end_with?(wanted.sub(/\Aarn:.*:key\//, ''))
      raise "KMS decrypted with #{resp.key_id}, expected #{wanted}"
    end
    resp
  end

  def method_missing(name, *args, &block)
    @kms.public_send(name, *args, &block)
  end

  def respond_to_missing?(name, include_private = false)
    @kms.respond_to?(name, include_private) || super
  end
end

# A key provider that writes a material description (the default providers write "{}").
class MatdescKeyProvider
  def initialize(materials_class, key, description)
    @materials = materials_class.new(key: key, description: JSON.generate(description))
  end

  def encryption_materials
    @materials
  end

  def key_for(_materials_description)
    @materials.key
  end
end

def parse(argv)
  raise ArgumentError, 'usage: put|get --endpoint URL ...' if argv.empty?

  a = { op: argv[0], region: 'us-west-2', format: 'v2', storage: 'metadata',
        context: {}, matdesc: {}, legacy: false }
  i = 1
  while i < argv.length
    f = argv[i]
    if f == '--legacy'
      a[:legacy] = true
      i += 1
      next
    end
    raise ArgumentError, "missing value for #{f}" if i + 1 >= argv.length

    v = argv[i + 1]
    i += 2
    case f
    when '--context', '--matdesc'
      k, val = v.split('=', 2)
      raise ArgumentError, "expected k=v, got #{v}" if val.nil?

      a[f[2..].to_sym][k] = val
    when '--endpoint', '--kms-endpoint', '--region', '--bucket', '--key', '--keyring', '--format',
         '--storage', '--policy', '--in', '--out', '--range', '--suffix'
      a[f[2..].tr('-', '_').to_sym] = v
    else
      raise ArgumentError, "unknown flag #{f}"
    end
  end
  a[:kms_endpoint] ||= a[:endpoint]
  a
end

def load_rsa(spec)
  priv, pub = spec.split(':', 2)
  return OpenSSL::PKey::RSA.new(File.read(priv)) unless priv.empty?

  OpenSSL::PKey::RSA.new(File.read(pub))
end

def client_for(a)
  creds = Aws::Credentials.new('testing', 'testing')
  s3 = Aws::S3::Client.new(region: a[:region], credentials: creds, endpoint: a[:endpoint],
                           force_path_style: true, retry_limit: 0)
  kms = Aws::KMS::Client.new(region: a[:region], credentials: creds, endpoint: a[:kms_endpoint],
                             retry_limit: 0)
  kind, rest = a[:keyring].to_s.split(':', 2)
  location = a[:storage] == 'instruction' ? :instruction_file : :metadata
  opts = { client: s3, envelope_location: location }
  v1 = a[:format] == 'v1'
  key = case kind
        when 'aes' then File.binread(rest)
        when 'rsa' then load_rsa(rest)
        when 'kms' then nil
        else raise ArgumentError, "unknown keyring #{a[:keyring]}"
        end
  if kind == 'kms'
    raise ArgumentError, 'the Ruby KMS clients take no material description' unless a[:matdesc].empty?

    opts[:kms_key_id] = rest
    opts[:kms_client] = v1 ? kms : KmsWithoutDecryptKeyId.new(kms)
  elsif a[:matdesc].empty?
    opts[:encryption_key] = key
  else
    materials = v1 ? Aws::S3::Encryption::Materials : Aws::S3::EncryptionV2::Materials
    opts[:key_provider] = MatdescKeyProvider.new(materials, key, a[:matdesc])
  end
  return Aws::S3::Encryption::Client.new(opts) if v1

  opts[:key_wrap_schema] = { 'aes' => :aes_gcm, 'rsa' => :rsa_oaep_sha1, 'kms' => :kms_context }[kind]
  opts[:content_encryption_schema] = :aes_gcm_no_padding
  opts[:security_profile] = a[:legacy] ? :v2_and_legacy : :v2
  Aws::S3::EncryptionV2::Client.new(opts)
end

def run(a)
  client = client_for(a)
  v2 = client.is_a?(Aws::S3::EncryptionV2::Client)
  case a[:op]
  when 'put'
    params = { bucket: a[:bucket], key: a[:key], body: File.binread(a[:in]) }
    unless a[:context].empty?
      raise ArgumentError, 'the V1 client takes no encryption context' unless v2

      params[:kms_encryption_context] = a[:context]
    end
    client.put_object(params)
    {}
  when 'get'
    params = { bucket: a[:bucket], key: a[:key] }
    params[:range] = a[:range] if a[:range]
    params[:instruction_file_suffix] = a[:suffix] if a[:suffix]
    params[:kms_encryption_context] = a[:context] if v2 && !a[:context].empty?
    pt = client.get_object(params).body.read
    File.binwrite(a[:out], pt) if a[:out]
    { len: pt.bytesize }
  else
    raise ArgumentError, "unknown or unsupported operation #{a[:op]}"
  end
end

def once(argv)
  res = { peer: 'ruby' }
  begin
    a = parse(argv)
    res[:op] = a[:op]
    res.merge!(run(a))
    res[:ok] = true
  rescue StandardError, NotImplementedError => e
    res[:ok] = false
    res[:error_class] = e.class.name
    res[:error] = e.message.to_s.empty? ? '(no message)' : e.message.to_s
    res[:cause] = e.cause ? "#{e.cause.class}: #{e.cause.message}" : ''
    warn e.full_message
  end
  JSON.generate(res)
end

if ARGV == ['batch']
  $stdout.sync = true
  $stdin.each_line do |line|
    line = line.chomp
    puts once(line.split("\t", -1)) unless line.empty?
  end
else
  out = once(ARGV)
  puts out
  exit(JSON.parse(out)['ok'] ? 0 : 1)
end
