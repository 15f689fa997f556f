//! The part of extism's host environment (`extism:host/env`) plugin.wasm imports, natively: one
//! call's input, the blocks the module allocates (its output, its error, its log lines), and
//! the memory budget both share with the module's own memory.
//!
//! The meaning of each function follows extism's kernel (extism `kernel/src/lib.rs` and the
//! host's `runtime/src/pdk.rs`, at extism commit 7230657), as extism-pdk 1.4.1 calls them
//! (`src/extism.rs`): offsets are handles of blocks in the host's memory, never addresses in
//! the module's; 0 is no block; `input_load_*` read the input at an offset from its start; the
//! host frees a log line once it has read it. Functions the module does not import (vars,
//! config, HTTP, `load_*`, `free`) are not linked, and instantiating a module that imports them
//! fails with wasmtime's "unknown import" error.

use wasmtime::{bail, Caller, Engine, Linker, ResourceLimiter, Result};

const ENV: &str = "extism:host/env";

/// The log line prefix of a step (see plugin/src/lib.rs).
const STEP_PREFIX: &str = "postwire step: ";

/// The host side of one call.
pub struct Call {
    input: Vec<u8>,
    /// Every allocated block, back to back; a block's handle is its offset plus one, so no
    /// block is handle 0.
    blocks: Vec<u8>,
    /// (start in `blocks`, length) of each block, in the order allocated (so sorted by start).
    spans: Vec<(usize, usize)>,
    output: Option<(usize, usize)>,
    error: Option<(usize, usize)>,
    last_step: String,
    budget: Budget,
}

/// Bytes the call may still take, across the module's memory and the host's blocks (extism
/// counts one budget for all of a plugin's memories: `MemoryLimiter` in extism 1.30.0
/// `src/current_plugin.rs`).
struct Budget {
    left: usize,
    exhausted: bool,
}

impl Budget {
    fn take(&mut self, bytes: usize) -> Result<()> {
        if bytes > self.left {
            self.exhausted = true;
            bail!("oom: the call's memory limit is reached");
        }
        self.left -= bytes;
        Ok(())
    }
}

impl ResourceLimiter for Budget {
    fn memory_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> Result<bool> {
        if maximum.is_some_and(|max| desired > max) {
            return Ok(false);
        }
        // An error (not `Ok(false)`) stops the module: Rust code in wasm would abort on a failed
        // allocation anyway, and the error says why.
        self.take(desired - current)?;
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, maximum: Option<usize>) -> Result<bool> {
        Ok(maximum.is_none_or(|max| desired <= max))
    }
}

/// How a call ended.
pub enum Ended<'a> {
    /// The function returned 0 and set this output.
    Output(&'a [u8]),
    /// The function returned `code` and set this error (or none).
    Error {
        message: String,
        code: i32,
    },
    TimedOut,
    OutOfMemory,
    /// Any other trap or instantiation failure.
    Trap(String),
}

impl Call {
    /// A call with `input` and a memory budget of `max_bytes`.
    pub fn new(input: Vec<u8>, max_bytes: usize) -> Call {
        let left = max_bytes.saturating_sub(input.len());
        Call {
            input,
            blocks: Vec::new(),
            spans: Vec::new(),
            output: None,
            error: None,
            last_step: String::new(),
            budget: Budget { left, exhausted: left == 0 },
        }
    }

    /// The limiter wasmtime asks before the module's memory grows.
    pub fn limiter(&mut self) -> &mut dyn ResourceLimiter {
        &mut self.budget
    }

    /// The last step the module logged, if any (`adding generated document 12, …`).
    pub fn last_step(&self) -> Option<&str> {
        Some(self.last_step.as_str()).filter(|s| !s.is_empty())
    }

    /// How the call ended, from what the function returned (or the trap that stopped it) and
    /// whether the timer fired.
    pub fn ended(&self, returned: Result<i32>, timed_out: bool) -> Ended<'_> {
        match returned {
            Ok(0) => Ended::Output(self.output.map_or(&[][..], |(start, len)| &self.blocks[start..start + len])),
            Ok(code) => Ended::Error {
                message: self.error.map_or_else(
                    || "the module returned an error code and no message".to_string(),
                    |(start, len)| String::from_utf8_lossy(&self.blocks[start..start + len]).into_owned(),
                ),
                code,
            },
            Err(_) if timed_out => Ended::TimedOut,
            Err(_) if self.budget.exhausted => Ended::OutOfMemory,
            Err(trap) => Ended::Trap(format!("{trap:#}")),
        }
    }

    fn alloc(&mut self, len: u64) -> Result<u64> {
        if len == 0 {
            return Ok(0);
        }
        let len = usize::try_from(len)?;
        self.budget.take(len)?;
        let start = self.blocks.len();
        self.blocks.resize(start + len, 0);
        self.spans.push((start, len));
        Ok(start as u64 + 1)
    }

    /// The block whose handle is `handle`.
    fn block(&self, handle: u64) -> Result<(usize, usize)> {
        let start = usize::try_from(handle.wrapping_sub(1))?;
        match self.spans.binary_search_by_key(&start, |&(s, _)| s) {
            Ok(i) => Ok(self.spans[i]),
            Err(_) => bail!("{handle} is not a block the module allocated"),
        }
    }

    /// The `width` bytes at handle offset `at`, inside some block.
    fn bytes_at(&mut self, at: u64, width: usize) -> Result<&mut [u8]> {
        let start = usize::try_from(at.wrapping_sub(1))?;
        let block = match self.spans.binary_search_by_key(&start, |&(s, _)| s) {
            Ok(i) => Some(i),
            Err(0) => None,
            Err(i) => Some(i - 1),
        };
        match block.map(|i| self.spans[i]) {
            Some((s, len)) if start + width <= s + len => Ok(&mut self.blocks[start..start + width]),
            _ => bail!("store of {width} bytes at {at} is outside every block"),
        }
    }

    fn input_at(&self, at: u64, width: usize) -> Result<&[u8]> {
        let start = usize::try_from(at)?;
        match self.input.get(start..start.saturating_add(width)) {
            Some(bytes) => Ok(bytes),
            None => bail!("input read of {width} bytes at {at} is past its {} bytes", self.input.len()),
        }
    }

    /// Keep a step line; drop the block when it is the newest (a log line is freed once read).
    fn log_trace(&mut self, handle: u64) -> Result<()> {
        let (start, len) = self.block(handle)?;
        if let Some(step) = self.blocks[start..start + len].strip_prefix(STEP_PREFIX.as_bytes()) {
            self.last_step.clear();
            self.last_step.push_str(&String::from_utf8_lossy(step));
        }
        if self.spans.last() == Some(&(start, len)) {
            self.spans.pop();
            self.blocks.truncate(start);
            self.budget.left += len;
        }
        Ok(())
    }
}

/// The ten functions of `extism:host/env` plugin.wasm imports, over [`Call`].
pub fn linker(engine: &Engine) -> Result<Linker<Call>> {
    let mut linker = Linker::new(engine);
    linker.func_wrap(ENV, "input_length", |c: Caller<'_, Call>| c.data().input.len() as u64)?;
    linker.func_wrap(ENV, "input_load_u64", |c: Caller<'_, Call>, at: u64| -> Result<u64> {
        let bytes: [u8; 8] = c.data().input_at(at, 8)?.try_into().expect("8 bytes");
        Ok(u64::from_le_bytes(bytes))
    })?;
    linker.func_wrap(ENV, "input_load_u8", |c: Caller<'_, Call>, at: u64| -> Result<i32> {
        Ok(i32::from(c.data().input_at(at, 1)?[0]))
    })?;
    linker.func_wrap(ENV, "alloc", |mut c: Caller<'_, Call>, len: u64| c.data_mut().alloc(len))?;
    linker.func_wrap(ENV, "store_u64", |mut c: Caller<'_, Call>, at: u64, value: u64| -> Result<()> {
        c.data_mut().bytes_at(at, 8)?.copy_from_slice(&value.to_le_bytes());
        Ok(())
    })?;
    linker.func_wrap(ENV, "store_u8", |mut c: Caller<'_, Call>, at: u64, value: i32| -> Result<()> {
        c.data_mut().bytes_at(at, 1)?[0] = value as u8;
        Ok(())
    })?;
    linker.func_wrap(ENV, "output_set", |mut c: Caller<'_, Call>, handle: u64, len: u64| -> Result<()> {
        let call = c.data_mut();
        call.output = match handle {
            0 => None,
            _ => {
                let (start, size) = call.block(handle)?;
                Some((start, usize::try_from(len)?.min(size)))
            }
        };
        Ok(())
    })?;
    linker.func_wrap(ENV, "error_set", |mut c: Caller<'_, Call>, handle: u64| -> Result<()> {
        let call = c.data_mut();
        call.error = if handle == 0 { None } else { Some(call.block(handle)?) };
        Ok(())
    })?;
    // 0 is trace: the module then reports each step (extism-pdk `LogLevel::Trace`).
    linker.func_wrap(ENV, "get_log_level", || 0i32)?;
    linker.func_wrap(ENV, "log_trace", |mut c: Caller<'_, Call>, handle: u64| c.data_mut().log_trace(handle))?;
    Ok(linker)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_bounded_and_handles_checked() {
        let mut call = Call::new(b"abcdefghij".to_vec(), 64);
        assert_eq!(call.input_at(8, 2).unwrap(), b"ij");
        assert!(call.input_at(9, 2).is_err(), "a read past the input is refused");
        let a = call.alloc(5).unwrap();
        let b = call.alloc(8).unwrap();
        assert_ne!(a, 0);
        call.bytes_at(a + 4, 1).unwrap()[0] = 7;
        assert!(call.bytes_at(a + 4, 8).is_err(), "a store may not run past its block");
        call.bytes_at(b, 8).unwrap().copy_from_slice(b"12345678");
        assert_eq!(call.block(b).unwrap().1, 8);
        assert!(call.block(b + 1).is_err(), "only a block's own handle names it");
        assert!(call.alloc(64).is_err() && call.budget.exhausted, "the budget bounds the blocks");
    }

    #[test]
    fn a_step_line_is_kept_and_its_block_freed() {
        let mut call = Call::new(Vec::new(), 1024);
        let line = b"postwire step: parsing document 3";
        let handle = call.alloc(line.len() as u64).unwrap();
        call.bytes_at(handle, line.len()).unwrap().copy_from_slice(line);
        call.log_trace(handle).unwrap();
        assert_eq!(call.last_step(), Some("parsing document 3"));
        assert!(call.blocks.is_empty() && call.spans.is_empty());
        assert_eq!(call.budget.left, 1024);
    }
}
