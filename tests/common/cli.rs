//! Running the `deepfake` binary from the integration tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::{arch, fixture};

pub fn deepfake() -> Command {
    Command::new(env!("CARGO_BIN_EXE_deepfake"))
}

pub fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("run deepfake")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Fixture classifier b as a `.bpk` in `dir` (no --arch needed afterwards).
pub fn model_b(dir: &Path) -> PathBuf {
    let arch_file = dir.join("b_arch.json");
    std::fs::write(&arch_file, serde_json::to_string(&arch("b")).unwrap()).unwrap();
    let out = dir.join("b.bpk");
    let o = run(deepfake().arg("import").arg(fixture("effnet/b_dfdc_legacy.pth")).args([
        "--arch".as_ref(),
        arch_file.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
    ]));
    assert!(o.status.success(), "import: {}", stderr(&o));
    out
}
