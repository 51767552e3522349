//! The `vault` command line: `create`, `edit`, `view`, `encrypt`, `decrypt`, `rekey`,
//! `encrypt-string`, with ansible-vault's flags.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use zeroize::Zeroizing;

use crate::VaultError;
use crate::format::{decrypt_detailed, encrypt, format_yaml_inline, is_vault_text};
use crate::secret::{
    DEFAULT_VAULT_ID, PromptMode, VaultEnv, VaultIdSpec, VaultPasswords, VaultSecret,
    load_passwords, load_spec, prompt_password,
};

/// Where vault passwords come from (shared by every subcommand, and usable by other commands
/// of prov through `#[command(flatten)]`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct PasswordArgs {
    /// Vault password file (its content is the password) or executable script printing it.
    #[arg(
        long = "vault-password-file",
        visible_alias = "vault-pass-file",
        value_name = "FILE"
    )]
    pub vault_password_files: Vec<PathBuf>,
    /// Vault identity LABEL@SOURCE; SOURCE is a password file, a script or `prompt`. Repeatable.
    #[arg(long = "vault-id", value_name = "LABEL@SOURCE")]
    pub vault_ids: Vec<String>,
    /// Ask for the vault password on the terminal.
    #[arg(
        short = 'J',
        long = "ask-vault-password",
        visible_alias = "ask-vault-pass"
    )]
    pub ask_vault_password: bool,
}

impl PasswordArgs {
    /// Loads the secrets these flags name (see [`load_passwords`]).
    pub fn load(&self, env: &VaultEnv, mode: PromptMode) -> Result<VaultPasswords, VaultError> {
        load_passwords(
            &self.vault_ids,
            &self.vault_password_files,
            self.ask_vault_password,
            env,
            mode,
        )
    }
}

/// `prov vault` subcommands, mirroring `ansible-vault`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum VaultCommand {
    /// Create a new encrypted file with $EDITOR.
    Create {
        /// The file to create (must not exist).
        file: PathBuf,
        #[command(flatten)]
        passwords: PasswordArgs,
        /// The vault id to encrypt with (required when several are given).
        #[arg(long = "encrypt-vault-id", value_name = "ID")]
        encrypt_vault_id: Option<String>,
    },
    /// Edit encrypted files with $EDITOR (re-encrypted with the same secret and vault id).
    Edit {
        /// Files to edit.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[command(flatten)]
        passwords: PasswordArgs,
    },
    /// Write the plaintext of encrypted files to stdout.
    View {
        /// Files to show.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[command(flatten)]
        passwords: PasswordArgs,
    },
    /// Encrypt files in place (or stdin to stdout, or to --output).
    Encrypt {
        /// Files to encrypt; none or `-` reads stdin.
        files: Vec<PathBuf>,
        #[command(flatten)]
        passwords: PasswordArgs,
        /// Output file (`-` for stdout); only with a single input.
        #[arg(long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
        /// The vault id to encrypt with (required when several are given).
        #[arg(long = "encrypt-vault-id", value_name = "ID")]
        encrypt_vault_id: Option<String>,
    },
    /// Decrypt files in place (or stdin to stdout, or to --output).
    Decrypt {
        /// Files to decrypt; none or `-` reads stdin.
        files: Vec<PathBuf>,
        #[command(flatten)]
        passwords: PasswordArgs,
        /// Output file (`-` for stdout); only with a single input.
        #[arg(long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Re-encrypt files with a new password.
    Rekey {
        /// Files to rekey.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[command(flatten)]
        passwords: PasswordArgs,
        /// File (or script) with the new password.
        #[arg(
            long = "new-vault-password-file",
            value_name = "FILE",
            conflicts_with = "new_vault_id"
        )]
        new_vault_password_file: Option<PathBuf>,
        /// New vault identity LABEL@SOURCE.
        #[arg(long = "new-vault-id", value_name = "LABEL@SOURCE")]
        new_vault_id: Option<String>,
        /// The new vault id to encrypt with.
        #[arg(long = "encrypt-vault-id", value_name = "ID")]
        encrypt_vault_id: Option<String>,
    },
    /// Encrypt strings into `NAME: !vault |` YAML snippets.
    #[command(name = "encrypt-string", alias = "encrypt_string")]
    EncryptString {
        /// Strings to encrypt; none or `-` reads stdin.
        strings: Vec<String>,
        #[command(flatten)]
        passwords: PasswordArgs,
        /// Variable name for the string at the same position (repeatable).
        #[arg(short = 'n', long = "name", value_name = "NAME")]
        names: Vec<String>,
        /// Variable name for the string read from stdin.
        #[arg(long = "stdin-name", value_name = "NAME")]
        stdin_name: Option<String>,
        /// Prompt for the string to encrypt.
        #[arg(short = 'p', long = "prompt")]
        prompt: bool,
        /// Echo the string typed at --prompt.
        #[arg(long = "show-input")]
        show_input: bool,
        /// Output file (`-` for stdout).
        #[arg(long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
        /// The vault id to encrypt with (required when several are given).
        #[arg(long = "encrypt-vault-id", value_name = "ID")]
        encrypt_vault_id: Option<String>,
    },
}

/// The streams and environment a command runs with (real ones from [`VaultIo`] users, buffers
/// in tests).
pub struct VaultIo<'a> {
    /// Standard input (plaintext or vault text for `-`).
    pub stdin: &'a mut dyn Read,
    /// Standard output.
    pub stdout: &'a mut dyn Write,
    /// Standard error (status lines).
    pub stderr: &'a mut dyn Write,
    /// Password file variable, CI, terminal, editor.
    pub env: VaultEnv,
}

/// Runs a vault subcommand with the process's stdin/stdout/stderr and environment.
pub fn run_process(cmd: VaultCommand) -> Result<(), VaultError> {
    let stdin = std::io::stdin();
    let mut stdin = stdin.lock();
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr().lock();
    let mut io = VaultIo {
        stdin: &mut stdin,
        stdout: &mut stdout,
        stderr: &mut stderr,
        env: VaultEnv::from_process(),
    };
    run(cmd, &mut io)
}

/// Runs a vault subcommand against `io`.
pub fn run(cmd: VaultCommand, io: &mut VaultIo<'_>) -> Result<(), VaultError> {
    match cmd {
        VaultCommand::Create {
            file,
            passwords,
            encrypt_vault_id,
        } => {
            let secrets = passwords.load(&io.env, PromptMode::New)?;
            let secret = secrets.encrypt_secret(encrypt_vault_id.as_deref())?;
            create(&file, secret, io)
        }
        VaultCommand::Edit { files, passwords } => {
            let secrets = passwords.load(&io.env, PromptMode::Existing)?;
            for file in &files {
                edit(file, &secrets, io)?;
            }
            Ok(())
        }
        VaultCommand::View { files, passwords } => {
            let secrets = passwords.load(&io.env, PromptMode::Existing)?;
            for file in &files {
                let (text, origin) = read_vault_text(file, io)?;
                let plain = decrypt_detailed(&text, &secrets, &origin)?.plaintext;
                write_stdout(io, &plain)?;
            }
            Ok(())
        }
        VaultCommand::Encrypt {
            files,
            passwords,
            output,
            encrypt_vault_id,
        } => {
            let files = inputs_or_stdin(files, output.as_deref())?;
            let secrets = passwords.load(&io.env, PromptMode::New)?;
            let secret = secrets.encrypt_secret(encrypt_vault_id.as_deref())?;
            for file in &files {
                let (data, origin) = read_input(file, io)?;
                if std::str::from_utf8(&data).is_ok_and(is_vault_text) {
                    return Err(VaultError::AlreadyEncrypted { origin });
                }
                let text = encrypt(&data, secret, Some(secret.id()))?;
                let target = output.as_deref().unwrap_or(file);
                write_target(io, target, text.as_bytes(), Mode::Private)?;
                status(io, target, "Encryption successful")?;
            }
            Ok(())
        }
        VaultCommand::Decrypt {
            files,
            passwords,
            output,
        } => {
            let files = inputs_or_stdin(files, output.as_deref())?;
            let secrets = passwords.load(&io.env, PromptMode::Existing)?;
            for file in &files {
                let (text, origin) = read_vault_text(file, io)?;
                let plain = decrypt_detailed(&text, &secrets, &origin)?.plaintext;
                let target = output.as_deref().unwrap_or(file);
                write_target(io, target, &plain, Mode::Private)?;
                status(io, target, "Decryption successful")?;
            }
            Ok(())
        }
        VaultCommand::Rekey {
            files,
            passwords,
            new_vault_password_file,
            new_vault_id,
            encrypt_vault_id,
        } => {
            let secrets = passwords.load(&io.env, PromptMode::Existing)?;
            let new_secret = if let Some(path) = &new_vault_password_file {
                VaultSecret::from_file(DEFAULT_VAULT_ID, path)?
            } else if let Some(spec) = &new_vault_id {
                load_spec(&VaultIdSpec::parse(spec)?, PromptMode::New, &io.env)?
            } else if let Some(why) = io.env.cannot_prompt_reason() {
                return Err(VaultError::NewPasswordRequired {
                    why: why.to_string(),
                });
            } else {
                prompt_password(DEFAULT_VAULT_ID, PromptMode::New, &io.env)?
            };
            let new_secrets = VaultPasswords::single(new_secret);
            let new_secret = new_secrets.encrypt_secret(encrypt_vault_id.as_deref())?;
            for file in &files {
                let (text, origin) = read_vault_text(file, io)?;
                let plain = decrypt_detailed(&text, &secrets, &origin)?.plaintext;
                let new_text = encrypt(&plain, new_secret, Some(new_secret.id()))?;
                write_target(io, file, new_text.as_bytes(), Mode::Preserve)?;
            }
            writeln!(io.stderr, "Rekey successful")
                .map_err(|e| VaultError::io("Unable to write to", "stderr", e))
        }
        VaultCommand::EncryptString {
            strings,
            passwords,
            names,
            stdin_name,
            prompt,
            show_input,
            output,
            encrypt_vault_id,
        } => {
            let items = collect_strings(io, strings, &names, stdin_name, prompt, show_input)?;
            let secrets = passwords.load(&io.env, PromptMode::New)?;
            let secret = secrets.encrypt_secret(encrypt_vault_id.as_deref())?;
            let mut outs = Vec::with_capacity(items.len());
            let several = items.len() > 1;
            for (index, item) in items.iter().enumerate() {
                let text = encrypt(&item.value, secret, Some(secret.id()))?;
                outs.push(format_yaml_inline(&text, item.name.as_deref()));
                if several {
                    let n = index + 1;
                    let line = match &item.name {
                        Some(name) => format!(
                            "# The encrypted version of variable (\"{name}\", the string #{n} from {}).",
                            item.from
                        ),
                        None => format!(
                            "# The encrypted version of the string #{n} from {}.",
                            item.from
                        ),
                    };
                    writeln!(io.stderr, "{line}")
                        .map_err(|e| VaultError::io("Unable to write to", "stderr", e))?;
                }
            }
            let mut all = outs.join("\n");
            all.push('\n');
            let target = output.unwrap_or_else(|| PathBuf::from("-"));
            write_target(io, &target, all.as_bytes(), Mode::Private)
        }
    }
}

/// One string for encrypt-string.
struct Item {
    value: Zeroizing<Vec<u8>>,
    name: Option<String>,
    from: &'static str,
}

fn collect_strings(
    io: &mut VaultIo<'_>,
    strings: Vec<String>,
    names: &[String],
    stdin_name: Option<String>,
    prompt: bool,
    show_input: bool,
) -> Result<Vec<Item>, VaultError> {
    let read_stdin =
        strings.iter().any(|s| s == "-") || stdin_name.is_some() || (strings.is_empty() && !prompt);
    if prompt && read_stdin {
        return Err(VaultError::Usage(
            "The --prompt option is not supported if also reading input from stdin".into(),
        ));
    }
    let mut items = Vec::new();
    if prompt {
        if let Some(why) = io.env.cannot_prompt_reason() {
            return Err(VaultError::Usage(format!(
                "--prompt needs a terminal, but {why}; pass the string as an argument or on stdin"
            )));
        }
        write!(io.stderr, "Variable name (enter for no name): ")
            .and_then(|()| io.stderr.flush())
            .map_err(|e| VaultError::io("Unable to write to", "stderr", e))?;
        let name = read_line(io)?;
        let value = if show_input {
            write!(io.stderr, "String to encrypt: ")
                .and_then(|()| io.stderr.flush())
                .map_err(|e| VaultError::io("Unable to write to", "stderr", e))?;
            Zeroizing::new(read_line(io)?)
        } else {
            Zeroizing::new(
                rpassword::prompt_password("String to encrypt (hidden): ").map_err(|e| {
                    VaultError::PasswordSource {
                        source_name: "prompt".into(),
                        reason: e.to_string(),
                    }
                })?,
            )
        };
        if value.is_empty() {
            return Err(VaultError::Usage(
                "The plaintext provided from the prompt was empty, not encrypting".into(),
            ));
        }
        items.push(Item {
            value: Zeroizing::new(value.as_bytes().to_vec()),
            name: Some(name).filter(|n| !n.is_empty()),
            from: "the interactive prompt",
        });
    }
    if read_stdin {
        let mut buf = Zeroizing::new(Vec::new());
        io.stdin
            .read_to_end(&mut buf)
            .map_err(|e| VaultError::io("Unable to read", "stdin", e))?;
        if buf.is_empty() {
            return Err(VaultError::Usage("stdin was empty, not encrypting".into()));
        }
        items.push(Item {
            value: buf,
            name: stdin_name,
            from: "stdin",
        });
    }
    let args: Vec<String> = strings.into_iter().filter(|s| s != "-").collect();
    if names.len() < args.len() && !names.is_empty() {
        writeln!(
            io.stderr,
            "The number of --name options do not match the number of args.\nThe last named \
             variable will be \"{}\". The rest will not have names.",
            names.last().map(String::as_str).unwrap_or_default()
        )
        .map_err(|e| VaultError::io("Unable to write to", "stderr", e))?;
    }
    for (i, arg) in args.into_iter().enumerate() {
        if arg.is_empty() {
            return Err(VaultError::Usage(
                "The plaintext provided from the command line args was empty, not encrypting"
                    .into(),
            ));
        }
        items.push(Item {
            value: Zeroizing::new(arg.into_bytes()),
            name: names.get(i).cloned(),
            from: "the command line args",
        });
    }
    Ok(items)
}

fn read_line(io: &mut VaultIo<'_>) -> Result<String, VaultError> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        match io.stdin.read(&mut byte) {
            Ok(0) => break,
            Ok(_) if byte[0] == b'\n' => break,
            Ok(_) => line.push(byte[0]),
            Err(e) => return Err(VaultError::io("Unable to read", "stdin", e)),
        }
    }
    let text = String::from_utf8_lossy(&line)
        .trim_end_matches('\r')
        .to_string();
    Ok(text)
}

fn is_stdio(path: &Path) -> bool {
    path.as_os_str() == "-"
}

fn inputs_or_stdin(files: Vec<PathBuf>, output: Option<&Path>) -> Result<Vec<PathBuf>, VaultError> {
    if output.is_some() && files.len() > 1 {
        return Err(VaultError::Usage(
            "At most one input file may be used with the --output option".into(),
        ));
    }
    Ok(if files.is_empty() {
        vec![PathBuf::from("-")]
    } else {
        files
    })
}

/// Reads a file (or stdin for `-`); returns the data and the name to use in messages.
fn read_input(
    path: &Path,
    io: &mut VaultIo<'_>,
) -> Result<(Zeroizing<Vec<u8>>, String), VaultError> {
    let mut data = Zeroizing::new(Vec::new());
    if is_stdio(path) {
        io.stdin
            .read_to_end(&mut data)
            .map_err(|e| VaultError::io("Unable to read", "stdin", e))?;
        return Ok((data, "<stdin>".to_string()));
    }
    let mut file = std::fs::File::open(path)
        .map_err(|e| VaultError::io("Unable to read source file", path, e))?;
    file.read_to_end(&mut data)
        .map_err(|e| VaultError::io("Unable to read source file", path, e))?;
    Ok((data, path.display().to_string()))
}

/// Reads a vault text; non-UTF-8 data cannot be vault text.
fn read_vault_text(path: &Path, io: &mut VaultIo<'_>) -> Result<(String, String), VaultError> {
    let (data, origin) = read_input(path, io)?;
    match std::str::from_utf8(&data) {
        Ok(text) => Ok((text.to_string(), origin)),
        Err(_) => Err(VaultError::NotEncrypted { origin }),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// New file content gets mode 0600 (as ansible-vault writes encrypt/decrypt/create output).
    Private,
    /// Keep the permissions of the file being replaced (edit, rekey).
    Preserve,
}

fn write_stdout(io: &mut VaultIo<'_>, data: &[u8]) -> Result<(), VaultError> {
    io.stdout
        .write_all(data)
        .and_then(|()| io.stdout.flush())
        .map_err(|e| VaultError::io("Unable to write to", "stdout", e))
}

fn status(io: &mut VaultIo<'_>, target: &Path, msg: &str) -> Result<(), VaultError> {
    if is_stdio(target) {
        return Ok(());
    }
    writeln!(io.stderr, "{msg}").map_err(|e| VaultError::io("Unable to write to", "stderr", e))
}

/// Writes `data` to `target` (stdout for `-`) atomically: a 0600 temporary file in the same
/// directory renamed over the target. Symlinks are followed.
fn write_target(
    io: &mut VaultIo<'_>,
    target: &Path,
    data: &[u8],
    mode: Mode,
) -> Result<(), VaultError> {
    if is_stdio(target) {
        return write_stdout(io, data);
    }
    let real = std::fs::canonicalize(target).unwrap_or_else(|_| target.to_path_buf());
    let previous = std::fs::metadata(&real).ok();
    let dir = match real.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".prov-vault-")
        .tempfile_in(&dir)
        .map_err(|e| VaultError::io("Unable to create a temporary file in", &dir, e))?;
    tmp.write_all(data)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| VaultError::io("Unable to write", tmp.path().to_path_buf(), e))?;
    if mode == Mode::Preserve
        && let Some(meta) = &previous
    {
        std::fs::set_permissions(tmp.path(), meta.permissions()).map_err(|e| {
            VaultError::io("Unable to set permissions of", tmp.path().to_path_buf(), e)
        })?;
    }
    tmp.persist(&real)
        .map_err(|e| VaultError::io("Unable to write", real.clone(), e.error))?;
    Ok(())
}

/// A plaintext temporary file for the editor: 0600, overwritten with zeros and removed on drop
/// (also when editing fails).
struct PlainTemp {
    file: tempfile::NamedTempFile,
}

impl PlainTemp {
    fn new(content: &[u8], like: &Path) -> Result<Self, VaultError> {
        let suffix = like
            .extension()
            .and_then(|e| e.to_str())
            .map(|e| format!(".{e}"))
            .unwrap_or_default();
        let mut file = tempfile::Builder::new()
            .prefix("prov-vault-")
            .suffix(&suffix)
            .tempfile()
            .map_err(|e| {
                VaultError::io(
                    "Unable to create a temporary file in",
                    std::env::temp_dir(),
                    e,
                )
            })?;
        file.write_all(content)
            .and_then(|()| file.flush())
            .map_err(|e| VaultError::io("Unable to write", file.path().to_path_buf(), e))?;
        Ok(PlainTemp { file })
    }

    fn path(&self) -> &Path {
        self.file.path()
    }
}

impl Drop for PlainTemp {
    fn drop(&mut self) {
        // Best effort: the editor may have replaced the file; zero what is there now.
        if let Ok(meta) = std::fs::metadata(self.file.path())
            && let Ok(mut f) = std::fs::OpenOptions::new()
                .write(true)
                .open(self.file.path())
        {
            let len = usize::try_from(meta.len()).unwrap_or(0);
            let _ = f.write_all(&vec![0u8; len]);
            let _ = f.sync_all();
        }
        // NamedTempFile removes the path when dropped right after this.
    }
}

/// Runs the editor on a temporary copy of `content` and returns the edited content.
fn run_editor(
    content: &[u8],
    like: &Path,
    io: &VaultIo<'_>,
) -> Result<Zeroizing<Vec<u8>>, VaultError> {
    let editor = io.env.editor.clone().unwrap_or_else(|| "vi".to_string());
    let argv = shlex::split(&editor)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| VaultError::Editor {
            editor: editor.clone(),
            reason: "cannot parse $EDITOR".into(),
        })?;
    let temp = PlainTemp::new(content, like)?;
    let status = Command::new(&argv[0])
        .args(&argv[1..])
        .arg(temp.path())
        .status()
        .map_err(|e| VaultError::Editor {
            editor: editor.clone(),
            reason: format!("cannot start it: {e}"),
        })?;
    if !status.success() {
        return Err(VaultError::Editor {
            editor,
            reason: format!("it exited with {status}; nothing was saved"),
        });
    }
    let edited = std::fs::read(temp.path())
        .map_err(|e| VaultError::io("Unable to read", temp.path().to_path_buf(), e))?;
    Ok(Zeroizing::new(edited))
}

fn create(file: &Path, secret: &VaultSecret, io: &mut VaultIo<'_>) -> Result<(), VaultError> {
    if file.exists() {
        return Err(VaultError::Usage(format!(
            "{} exists, please use 'edit' instead",
            file.display()
        )));
    }
    if let Some(dir) = file
        .parent()
        .filter(|d| !d.as_os_str().is_empty() && !d.exists())
    {
        writeln!(
            io.stderr,
            "[WARNING]: {} does not exist, creating...",
            dir.display()
        )
        .map_err(|e| VaultError::io("Unable to write to", "stderr", e))?;
        std::fs::create_dir_all(dir)
            .map_err(|e| VaultError::io("Unable to create directory", dir, e))?;
    }
    let plain = run_editor(b"", file, io)?;
    let text = encrypt(&plain, secret, Some(secret.id()))?;
    write_target(io, file, text.as_bytes(), Mode::Private)
}

fn edit(file: &Path, secrets: &VaultPasswords, io: &mut VaultIo<'_>) -> Result<(), VaultError> {
    let (text, origin) = read_vault_text(file, io)?;
    let decrypted = decrypt_detailed(&text, secrets, &origin)?;
    let edited = run_editor(&decrypted.plaintext, file, io)?;
    if *edited == *decrypted.plaintext {
        return Ok(());
    }
    // Keep the vault id (and so the format version) of the header, as ansible-vault does.
    let new_text = encrypt(
        &edited,
        &decrypted.secret,
        decrypted.header.vault_id.as_deref(),
    )?;
    write_target(io, file, new_text.as_bytes(), Mode::Preserve)
}
