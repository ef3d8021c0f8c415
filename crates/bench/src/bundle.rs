//! The SPA's download: the wasm module and its JavaScript glue, raw and compressed as a server
//! would send them.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

/// The budget for the wasm module, brotli-compressed: a hard check in the tests (issue 6 set
/// 250,000 B; raised to 300,000 B to make room for the views that come next, the aim still 150 KB).
pub const WASM_BROTLI_BUDGET: u64 = 300_000;

#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    pub raw: u64,
    pub gzip: u64,
    pub brotli: u64,
}

pub fn sizes(bytes: &[u8]) -> anyhow::Result<Sizes> {
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gzip.write_all(bytes)?;
    let gzip = gzip.finish()?.len() as u64;
    let mut brotli = Vec::new();
    {
        let mut writer = brotli::CompressorWriter::new(&mut brotli, 64 * 1024, 11, 22);
        writer.write_all(bytes)?;
    }
    Ok(Sizes {
        raw: bytes.len() as u64,
        gzip,
        brotli: brotli.len() as u64,
    })
}

/// The one file in `dist` whose name ends so (Trunk adds a content hash to the name).
pub fn find(dist: &Path, suffix: &str) -> anyhow::Result<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dist).with_context(|| format!("reading {}", dist.display()))? {
        let path = entry?.path();
        if path.to_string_lossy().ends_with(suffix) {
            found.push(path);
        }
    }
    match found.as_slice() {
        [one] => Ok(one.clone()),
        [] => anyhow::bail!(
            "no *{suffix} in {}: build the SPA first (scripts/lib.sh build_spa)",
            dist.display()
        ),
        _ => anyhow::bail!("several *{suffix} in {}", dist.display()),
    }
}

/// (wasm, js) sizes of the SPA built into `dist`.
pub fn measure(dist: &Path) -> anyhow::Result<(Sizes, Sizes)> {
    let wasm = std::fs::read(find(dist, "_bg.wasm")?)?;
    let js = std::fs::read(find_glue(dist)?)?;
    Ok((sizes(&wasm)?, sizes(&js)?))
}

/// wasm-bindgen's glue: the `.js` next to the module, not the externalized boot script.
fn find_glue(dist: &Path) -> anyhow::Result<PathBuf> {
    let wasm = find(dist, "_bg.wasm")?;
    let name = wasm.to_string_lossy().replace("_bg.wasm", ".js");
    Ok(PathBuf::from(name))
}
