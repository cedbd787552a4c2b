//! Just enough of Python's pickle format to read each tensor's *strides* from a PyTorch file.
//!
//! burn-store 0.21 reads PyTorch tensors as if they were contiguous: `_rebuild_tensor_v2`'s stride argument is
//! dropped (its pickle_reader.rs: "args[3] is stride (unused)"). facenet-pytorch's MTCNN weights are stored
//! transposed (conv1.weight of PNet has strides (1, 10, 30, 90)), so they would load scrambled. This module
//! interprets the pickle opcodes into a value tree — never executing anything — and reports, per flattened key,
//! the shape, strides and storage offset of every tensor, so the loader can put the elements in order.

use std::collections::BTreeMap;

/// The error of a pickle that ends early: a caller holding only the start of a file may read more and retry.
pub const TRUNCATED: &str = "truncated pickle";

/// No value may stand for more than this many nodes once expanded (memo references copied out, as burn-store's
/// reader does: it clones a memoised value each time it is referenced, so `[a, a]`, `[[a, a], [a, a]]`, ... double
/// at every level). A B7 checkpoint's largest value has ~20 000.
const MAX_NODES: u64 = 1 << 22;
/// The copies a value-copying reader makes in all (every memo put and get, every DUP).
const MAX_WORK: u64 = 1 << 26;
/// Nesting depth; real checkpoints nest < 10 deep. Readers that recurse (burn-store's clone, drop and walk) would
/// overflow the stack, an abort we could not catch.
const MAX_DEPTH: u32 = 100;

/// Where one tensor's elements sit in its storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorLayout {
    pub shape: Vec<usize>,
    pub strides: Vec<usize>,
    pub offset: usize,
    /// The storage's size in elements and the size of one element in bytes, from its persistent id
    /// (`('storage', torch.FloatStorage, key, location, numel)`); `None` when the pickle does not say.
    pub storage: Option<StorageInfo>,
}

/// What a tensor's persistent id says about its storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StorageInfo {
    pub numel: u64,
    /// `None` for storage types this reader does not know.
    pub element_size: Option<u64>,
}

impl TensorLayout {
    /// The number of elements; `None` when the product overflows.
    pub fn numel(&self) -> Option<usize> {
        self.shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
    }

    /// Checks that the layout is one a reader can trust before allocating anything for it: as many strides as
    /// dimensions, element counts and extents without overflow, inside the storage, and the storage inside a file
    /// of `file_bytes`. Returns the tensor's size in bytes when the element size is known (else 0).
    pub fn check(&self, file_bytes: u64) -> Result<u64, String> {
        if self.shape.len() != self.strides.len() {
            return Err(format!("shape {:?} and strides {:?} have different ranks", self.shape, self.strides));
        }
        let overflow = || format!("shape {:?} with strides {:?} overflows", self.shape, self.strides);
        let numel = self.numel().ok_or_else(overflow)? as u64;
        // The element one past the last one the tensor touches (0 for an empty tensor).
        let extent = if numel == 0 {
            0
        } else {
            self.shape
                .iter()
                .zip(&self.strides)
                .try_fold(self.offset as u64 + 1, |acc, (&d, &s)| {
                    (d as u64 - 1).checked_mul(s as u64).and_then(|step| acc.checked_add(step))
                })
                .ok_or_else(overflow)?
        };
        let Some(storage) = self.storage else { return Ok(0) };
        if extent > storage.numel {
            return Err(format!(
                "shape {:?}, strides {:?} and offset {} reach element {extent} of a storage of {}",
                self.shape, self.strides, self.offset, storage.numel
            ));
        }
        let Some(size) = storage.element_size else { return Ok(0) };
        let storage_bytes = storage.numel.checked_mul(size).ok_or_else(overflow)?;
        if storage_bytes > file_bytes {
            return Err(format!("a storage of {storage_bytes} bytes cannot be in a file of {file_bytes} bytes"));
        }
        numel.checked_mul(size).ok_or_else(overflow)
    }

    /// Row-major with no gaps: what burn-store assumes.
    pub fn is_contiguous(&self) -> bool {
        let mut expected = 1usize;
        for (&dim, &stride) in self.shape.iter().zip(&self.strides).rev() {
            if dim != 1 && stride != expected {
                return false;
            }
            let Some(next) = expected.checked_mul(dim) else { return false };
            expected = next;
        }
        true
    }

    /// A permutation of a contiguous layout (dense, no overlap, no gap): the elements fill exactly
    /// `offset .. offset + numel` of the storage.
    pub fn is_dense(&self) -> bool {
        let mut dims: Vec<(usize, usize)> =
            self.strides.iter().copied().zip(self.shape.iter().copied()).filter(|&(_, d)| d != 1).collect();
        dims.sort_unstable();
        let mut expected = 1usize;
        for (stride, dim) in dims {
            if stride != expected {
                return false;
            }
            let Some(next) = expected.checked_mul(dim) else { return false };
            expected = next;
        }
        true
    }

    /// For each element in row-major (logical) order, its index among the `numel` stored elements; `None` when
    /// the layout overflows (a layout that passed [`TensorLayout::check`] does not).
    pub fn gather_indices(&self) -> Option<Vec<usize>> {
        if self.shape.len() != self.strides.len() {
            return None;
        }
        let numel = self.numel()?;
        let mut out = Vec::with_capacity(numel);
        let mut index = vec![0usize; self.shape.len()];
        for _ in 0..numel {
            let at =
                index.iter().zip(&self.strides).try_fold(0usize, |acc, (i, s)| acc.checked_add(i.checked_mul(*s)?));
            out.push(at?);
            for d in (0..index.len()).rev() {
                index[d] += 1;
                if index[d] < self.shape[d] {
                    break;
                }
                index[d] = 0;
            }
        }
        Some(out)
    }
}

/// A pickled value; only what locates tensors is kept (numbers other than ints, bytes and built objects are
/// `Other`).
#[derive(Debug, Clone)]
enum Value {
    Other,
    Int(i64),
    Str(String),
    Tuple(Vec<usize>),
    List(Vec<usize>),
    Dict(Vec<(usize, usize)>),
    Global(String, String),
    Reduce(usize, usize),
    /// What `persistent_load` returns for this persistent id (a storage, in PyTorch files).
    Persistent(usize),
}

enum Slot {
    Mark,
    Val(usize),
}

/// The value tree of one pickle; values live in an arena so that mutation through the memo is shared, as in
/// Python.
struct Pickle {
    arena: Vec<Value>,
}

/// The arena while parsing, with what bounds the work of any reader of the same bytes: per value its size once
/// expanded (as when memo references are copied out) and its nesting depth, and the copies made so far.
struct Builder {
    arena: Vec<Value>,
    size: Vec<u64>,
    depth: Vec<u32>,
    work: u64,
}

impl Builder {
    fn add(&mut self, v: Value) -> Result<usize, String> {
        let children: Vec<usize> = match &v {
            Value::Tuple(items) | Value::List(items) => items.clone(),
            Value::Dict(pairs) => pairs.iter().flat_map(|&(k, v)| [k, v]).collect(),
            Value::Reduce(a, b) => vec![*a, *b],
            Value::Persistent(a) => vec![*a],
            _ => Vec::new(),
        };
        self.arena.push(v);
        self.size.push(1);
        self.depth.push(0);
        let id = self.arena.len() - 1;
        self.adopt(id, &children)?;
        Ok(id)
    }

    /// Accounts for `children` put inside `parent`.
    fn adopt(&mut self, parent: usize, children: &[usize]) -> Result<(), String> {
        for &c in children {
            self.size[parent] = self.size[parent].saturating_add(self.size[c]);
            self.depth[parent] = self.depth[parent].max(self.depth[c].saturating_add(1));
        }
        if self.size[parent] > MAX_NODES {
            return Err(format!(
                "pickle refused: a value would expand to more than {MAX_NODES} objects (self-referencing or \
                 aliased containers)"
            ));
        }
        if self.depth[parent] > MAX_DEPTH {
            return Err(format!("pickle refused: values nested more than {MAX_DEPTH} deep"));
        }
        Ok(())
    }

    /// Accounts for one copy of `v` (a memo put or get, a DUP).
    fn copy(&mut self, v: usize) -> Result<(), String> {
        self.work = self.work.saturating_add(self.size[v]);
        if self.work > MAX_WORK {
            return Err(format!(
                "pickle refused: its memo references copy more than {MAX_WORK} objects (aliased containers)"
            ));
        }
        Ok(())
    }
}

/// Reads one pickle starting at `data[pos]`; returns its root value and the position after its STOP opcode.
/// Refuses pickles whose values would expand beyond the bounds above, so that neither this walk nor
/// burn-store's reader (which copies memoised values) can be made to work exponentially.
fn parse(data: &[u8], mut pos: usize) -> Result<(Pickle, usize, usize), String> {
    let mut b = Builder { arena: Vec::new(), size: Vec::new(), depth: Vec::new(), work: 0 };
    let mut stack: Vec<Slot> = Vec::new();
    let mut memo: BTreeMap<u64, usize> = BTreeMap::new();
    let eof = || TRUNCATED.to_string();
    macro_rules! take {
        ($n:expr) => {{
            let n: usize = $n;
            let end = pos.checked_add(n).filter(|&e| e <= data.len()).ok_or_else(eof)?;
            let s = &data[pos..end];
            pos = end;
            s
        }};
    }
    let le = |b: &[u8]| b.iter().rev().fold(0u64, |acc, &x| (acc << 8) | x as u64);
    fn push(b: &mut Builder, stack: &mut Vec<Slot>, v: Value) -> Result<(), String> {
        let id = b.add(v)?;
        stack.push(Slot::Val(id));
        Ok(())
    }
    fn pop(stack: &mut Vec<Slot>) -> Result<usize, String> {
        match stack.pop() {
            Some(Slot::Val(v)) => Ok(v),
            _ => Err("pickle stack underflow".into()),
        }
    }
    fn pop_mark(stack: &mut Vec<Slot>) -> Result<Vec<usize>, String> {
        let mut items = Vec::new();
        loop {
            match stack.pop() {
                Some(Slot::Mark) => break,
                Some(Slot::Val(v)) => items.push(v),
                None => return Err("pickle mark missing".into()),
            }
        }
        items.reverse();
        Ok(items)
    }
    fn top(stack: &[Slot]) -> Result<usize, String> {
        match stack.last() {
            Some(Slot::Val(v)) => Ok(*v),
            _ => Err("pickle stack underflow".into()),
        }
    }
    fn line(data: &[u8], pos: &mut usize) -> Result<String, String> {
        let start = *pos;
        // A line without its end is where the data stops: the same "truncated" as any short read.
        let end = data[start..].iter().position(|&b| b == b'\n').ok_or(TRUNCATED)? + start;
        *pos = end + 1;
        Ok(String::from_utf8_lossy(&data[start..end]).into_owned())
    }
    fn set_items(b: &mut Builder, target: usize, items: &[usize]) -> Result<(), String> {
        if let Value::Dict(d) = &mut b.arena[target] {
            for pair in items.chunks(2) {
                if let [k, v] = pair {
                    d.push((*k, *v));
                }
            }
        }
        // SETITEMS on other objects (e.g. a reduced custom class) are irrelevant to tensor layouts, but a reader
        // that keeps them still holds the items.
        b.adopt(target, items)
    }
    fn append(b: &mut Builder, target: usize, items: Vec<usize>) -> Result<(), String> {
        b.adopt(target, &items)?;
        if let Value::List(l) = &mut b.arena[target] {
            l.extend(items);
        }
        Ok(())
    }
    let parse_int = |s: String| s.trim().parse::<u64>().map_err(|e| format!("bad pickle memo key `{s}`: {e}"));
    loop {
        let op = *take!(1).first().ok_or_else(eof)?;
        match op {
            0x80 => {
                take!(1); // PROTO
            }
            0x95 => {
                take!(8); // FRAME
            }
            b'.' => {
                let root = pop(&mut stack)?;
                return Ok((Pickle { arena: b.arena }, root, pos));
            }
            b'(' => stack.push(Slot::Mark),
            b'N' | 0x88 | 0x89 => push(&mut b, &mut stack, Value::Other)?,
            b'J' => {
                let v = le(take!(4)) as u32 as i32 as i64;
                push(&mut b, &mut stack, Value::Int(v))?;
            }
            b'K' => {
                let v = take!(1)[0] as i64;
                push(&mut b, &mut stack, Value::Int(v))?;
            }
            b'M' => {
                let v = le(take!(2)) as i64;
                push(&mut b, &mut stack, Value::Int(v))?;
            }
            0x8a => {
                // LONG1: little-endian two's complement of n bytes; wider than 8 bytes is no int we use.
                let n = take!(1)[0] as usize;
                let bytes = take!(n);
                let v = if n > 8 {
                    Value::Other
                } else {
                    let mut v = le(bytes) as i64;
                    if n > 0 && n < 8 && bytes[n - 1] & 0x80 != 0 {
                        v -= 1i64 << (8 * n);
                    }
                    Value::Int(v)
                };
                push(&mut b, &mut stack, v)?;
            }
            0x8b => {
                // LONG4
                let n = le(take!(4)) as usize;
                take!(n);
                push(&mut b, &mut stack, Value::Other)?;
            }
            b'I' | b'L' => {
                let s = line(data, &mut pos)?;
                let v = match s.trim_end_matches('L') {
                    "01" => Value::Int(1),
                    "00" => Value::Int(0),
                    t => t.parse::<i64>().map(Value::Int).unwrap_or(Value::Other),
                };
                push(&mut b, &mut stack, v)?;
            }
            b'F' => {
                line(data, &mut pos)?;
                push(&mut b, &mut stack, Value::Other)?;
            }
            b'G' => {
                take!(8);
                push(&mut b, &mut stack, Value::Other)?;
            }
            b'X' => {
                let n = le(take!(4)) as usize;
                let s = String::from_utf8_lossy(take!(n)).into_owned();
                push(&mut b, &mut stack, Value::Str(s))?;
            }
            0x8c => {
                let n = take!(1)[0] as usize;
                let s = String::from_utf8_lossy(take!(n)).into_owned();
                push(&mut b, &mut stack, Value::Str(s))?;
            }
            0x8d => {
                let n = usize::try_from(le(take!(8))).map_err(|_| eof())?;
                let s = String::from_utf8_lossy(take!(n)).into_owned();
                push(&mut b, &mut stack, Value::Str(s))?;
            }
            b'T' | b'B' => {
                let n = le(take!(4)) as usize;
                let bytes = take!(n);
                let v = if op == b'T' { Value::Str(String::from_utf8_lossy(bytes).into_owned()) } else { Value::Other };
                push(&mut b, &mut stack, v)?;
            }
            b'U' | b'C' => {
                let n = take!(1)[0] as usize;
                let bytes = take!(n);
                let v = if op == b'U' { Value::Str(String::from_utf8_lossy(bytes).into_owned()) } else { Value::Other };
                push(&mut b, &mut stack, v)?;
            }
            0x8e => {
                let n = usize::try_from(le(take!(8))).map_err(|_| eof())?;
                take!(n);
                push(&mut b, &mut stack, Value::Other)?;
            }
            b'V' | b'S' => {
                let s = line(data, &mut pos)?;
                push(&mut b, &mut stack, Value::Str(s.trim_matches('\'').to_string()))?;
            }
            b')' => push(&mut b, &mut stack, Value::Tuple(Vec::new()))?,
            b']' => push(&mut b, &mut stack, Value::List(Vec::new()))?,
            b'}' => push(&mut b, &mut stack, Value::Dict(Vec::new()))?,
            b't' => {
                let items = pop_mark(&mut stack)?;
                push(&mut b, &mut stack, Value::Tuple(items))?;
            }
            b'l' => {
                let items = pop_mark(&mut stack)?;
                push(&mut b, &mut stack, Value::List(items))?;
            }
            b'd' => {
                let items = pop_mark(&mut stack)?;
                push(&mut b, &mut stack, Value::Dict(Vec::new()))?;
                let target = top(&stack)?;
                set_items(&mut b, target, &items)?;
            }
            0x85..=0x87 => {
                let n = (op - 0x84) as usize;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(pop(&mut stack)?);
                }
                items.reverse();
                push(&mut b, &mut stack, Value::Tuple(items))?;
            }
            b'a' => {
                let v = pop(&mut stack)?;
                let list = top(&stack)?;
                append(&mut b, list, vec![v])?;
            }
            b'e' => {
                let items = pop_mark(&mut stack)?;
                let list = top(&stack)?;
                append(&mut b, list, items)?;
            }
            b's' => {
                let v = pop(&mut stack)?;
                let k = pop(&mut stack)?;
                let target = top(&stack)?;
                set_items(&mut b, target, &[k, v])?;
            }
            b'u' => {
                let items = pop_mark(&mut stack)?;
                let target = top(&stack)?;
                set_items(&mut b, target, &items)?;
            }
            b'c' => {
                let module = line(data, &mut pos)?;
                let name = line(data, &mut pos)?;
                push(&mut b, &mut stack, Value::Global(module, name))?;
            }
            0x93 => {
                let name = pop(&mut stack)?;
                let module = pop(&mut stack)?;
                let s = |i: usize| match &b.arena[i] {
                    Value::Str(s) => s.clone(),
                    _ => String::new(),
                };
                let g = Value::Global(s(module), s(name));
                push(&mut b, &mut stack, g)?;
            }
            b'Q' => {
                let pid = pop(&mut stack)?;
                push(&mut b, &mut stack, Value::Persistent(pid))?;
            }
            b'R' | 0x81 => {
                let args = pop(&mut stack)?;
                let callable = pop(&mut stack)?;
                let is_ordered_dict =
                    matches!(&b.arena[callable], Value::Global(m, n) if m == "collections" && n == "OrderedDict");
                let v = if is_ordered_dict { Value::Dict(Vec::new()) } else { Value::Reduce(callable, args) };
                push(&mut b, &mut stack, v)?;
            }
            b'b' => {
                let state = pop(&mut stack)?;
                let obj = top(&stack)?;
                // BUILD on a dict (an OrderedDict's `_metadata`) changes no tensor; other built objects are opaque
                // here, but a reader that keeps them still holds the state.
                if !matches!(b.arena[obj], Value::Dict(_)) {
                    b.arena[obj] = Value::Other;
                }
                b.adopt(obj, &[state])?;
            }
            b'q' | b'r' | 0x94 | b'p' => {
                let k = match op {
                    b'q' => take!(1)[0] as u64,
                    b'r' => le(take!(4)),
                    0x94 => memo.len() as u64,
                    _ => parse_int(line(data, &mut pos)?)?,
                };
                let v = top(&stack)?;
                b.copy(v)?;
                memo.insert(k, v);
            }
            b'h' | b'j' | b'g' => {
                let k = match op {
                    b'h' => take!(1)[0] as u64,
                    b'j' => le(take!(4)),
                    _ => parse_int(line(data, &mut pos)?)?,
                };
                let v = *memo.get(&k).ok_or_else(|| format!("pickle memo {k} missing"))?;
                b.copy(v)?;
                stack.push(Slot::Val(v));
            }
            b'0' => {
                stack.pop();
            }
            b'1' => {
                pop_mark(&mut stack)?;
            }
            b'2' => {
                let v = top(&stack)?;
                b.copy(v)?;
                stack.push(Slot::Val(v));
            }
            other => return Err(format!("unsupported pickle opcode 0x{other:02x}")),
        }
    }
}

impl Pickle {
    fn int(&self, v: usize) -> Option<u64> {
        match self.arena[v] {
            Value::Int(n) => u64::try_from(n).ok(),
            _ => None,
        }
    }

    fn ints(&self, v: usize) -> Option<Vec<usize>> {
        match &self.arena[v] {
            Value::Tuple(items) | Value::List(items) => {
                items.iter().map(|&i| self.int(i).and_then(|n| usize::try_from(n).ok())).collect()
            }
            _ => None,
        }
    }

    fn tuple(&self, v: usize) -> Option<&[usize]> {
        match &self.arena[v] {
            Value::Tuple(items) => Some(items),
            _ => None,
        }
    }

    /// A storage's persistent id, `('storage', torch.FloatStorage, key, location, numel[, view])`.
    fn storage(&self, v: usize) -> Option<StorageInfo> {
        let Value::Persistent(pid) = self.arena[v] else { return None };
        let pid = self.tuple(pid)?;
        let numel = self.int(*pid.get(4)?)?;
        let element_size = match &self.arena[*pid.get(1)?] {
            Value::Global(_, name) => element_size(name),
            _ => None,
        };
        Some(StorageInfo { numel, element_size })
    }

    /// `_rebuild_tensor_v2(storage, offset, shape, strides, ...)`'s arguments as a layout.
    fn rebuild_args(&self, args: &[usize]) -> Option<TensorLayout> {
        if args.len() < 4 {
            return None;
        }
        let offset = usize::try_from(self.int(args[1])?).ok()?;
        Some(TensorLayout {
            shape: self.ints(args[2])?,
            strides: self.ints(args[3])?,
            offset,
            storage: self.storage(args[0]),
        })
    }

    /// The layout of a rebuilt tensor, through `_rebuild_parameter` / `_rebuild_from_type_v2` wrappers.
    fn tensor_layout(&self, v: usize, depth: usize) -> Option<TensorLayout> {
        let Value::Reduce(callable, args) = self.arena[v] else { return None };
        let Value::Global(module, name) = &self.arena[callable] else { return None };
        let args = self.tuple(args)?;
        match (module.as_str(), name.as_str()) {
            ("torch._utils", "_rebuild_tensor_v2" | "_rebuild_tensor") => self.rebuild_args(args),
            ("torch._utils", "_rebuild_parameter" | "_rebuild_parameter_with_state") if depth < 4 => {
                self.tensor_layout(*args.first()?, depth + 1)
            }
            ("torch._tensor", "_rebuild_from_type_v2") if depth < 4 && args.len() >= 3 => {
                let Value::Global(m, n) = &self.arena[args[0]] else { return None };
                if m == "torch._utils" && (n == "_rebuild_tensor_v2" || n == "_rebuild_tensor") {
                    return self.rebuild_args(self.tuple(args[2])?);
                }
                None
            }
            _ => None,
        }
    }

    fn key(&self, v: usize) -> Option<String> {
        match &self.arena[v] {
            Value::Str(s) => Some(s.clone()),
            Value::Int(n) => Some(n.to_string()),
            _ => None,
        }
    }

    /// Walks nested dicts, joining keys with `.` like burn-store does. A dict inside itself is refused (it has no
    /// flattening); a dict reached twice through the memo is walked each time, within a budget of visits.
    fn collect(&self, v: usize, walk: &mut Walk, out: &mut BTreeMap<String, TensorLayout>) -> Result<(), String> {
        let Value::Dict(items) = &self.arena[v] else { return Ok(()) };
        if walk.on_path[v] {
            return Err(format!("pickle refused: the dict at `{}` contains itself", walk.path.join(".")));
        }
        if walk.path.len() > MAX_DEPTH as usize {
            return Err(format!("pickle refused: dicts nested more than {MAX_DEPTH} deep"));
        }
        walk.on_path[v] = true;
        for &(k, val) in items {
            walk.visits += 1;
            if walk.visits > MAX_NODES {
                return Err(format!("pickle refused: more than {MAX_NODES} entries once aliased dicts are expanded"));
            }
            let Some(k) = self.key(k) else { continue };
            walk.path.push(k);
            if let Some(layout) = self.tensor_layout(val, 0) {
                out.insert(walk.path.join("."), layout);
            } else {
                self.collect(val, walk, out)?;
            }
            walk.path.pop();
        }
        walk.on_path[v] = false;
        Ok(())
    }
}

/// The state of one [`Pickle::collect`] walk.
struct Walk {
    path: Vec<String>,
    on_path: Vec<bool>,
    visits: u64,
}

/// Bytes per element of a legacy storage type (`torch.FloatStorage`, ...); the zip format pickles the same names.
fn element_size(storage_type: &str) -> Option<u64> {
    Some(match storage_type {
        "DoubleStorage" | "LongStorage" | "ComplexFloatStorage" => 8,
        "FloatStorage" | "IntStorage" => 4,
        "HalfStorage" | "BFloat16Storage" | "ShortStorage" => 2,
        "ByteStorage" | "CharStorage" | "BoolStorage" | "UntypedStorage" => 1,
        "ComplexDoubleStorage" => 16,
        _ => return None,
    })
}

/// Tensor layouts of the main pickle of a legacy (pre-1.6) `torch.save` file: the fourth pickle, after the
/// magic number, the protocol version and the system info. The fifth (the storage keys) is parsed too, so that
/// its bounds are checked before any other reader sees it.
pub fn legacy_layouts(file: &[u8], file_bytes: u64) -> Result<BTreeMap<String, TensorLayout>, String> {
    let mut pos = 0;
    for _ in 0..3 {
        pos = parse(file, pos)?.2;
    }
    let (layouts, end) = layouts_at(file, pos, file_bytes)?;
    parse(file, end)?;
    Ok(layouts)
}

/// Tensor layouts of a zip-format file's `data.pkl`, from a file of `file_bytes`.
pub fn pickle_layouts(pickle: &[u8], file_bytes: u64) -> Result<BTreeMap<String, TensorLayout>, String> {
    Ok(layouts_at(pickle, 0, file_bytes)?.0)
}

/// A file cannot make a reader allocate more than this many times its size for its tensors (tensors sharing a
/// storage each get their own copy).
const MAX_EXPANSION: u64 = 16;

fn layouts_at(data: &[u8], pos: usize, file_bytes: u64) -> Result<(BTreeMap<String, TensorLayout>, usize), String> {
    let (pickle, root, end) = parse(data, pos)?;
    let mut out = BTreeMap::new();
    let mut walk = Walk { path: Vec::new(), on_path: vec![false; pickle.arena.len()], visits: 0 };
    pickle.collect(root, &mut walk, &mut out)?;
    let mut total = 0u64;
    for (key, layout) in &out {
        let bytes = layout.check(file_bytes).map_err(|e| format!("tensor `{key}`: {e}"))?;
        total = total.saturating_add(bytes);
    }
    let limit = file_bytes.saturating_mul(MAX_EXPANSION);
    if total > limit {
        return Err(format!("its tensors claim {total} bytes, more than {MAX_EXPANSION} times the file's size"));
    }
    Ok((out, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(shape: &[usize], strides: &[usize]) -> TensorLayout {
        TensorLayout { shape: shape.to_vec(), strides: strides.to_vec(), offset: 0, storage: None }
    }

    #[test]
    fn contiguity_and_density() {
        let row_major = layout(&[2, 3], &[3, 1]);
        assert!(row_major.is_contiguous() && row_major.is_dense());
        let transposed = layout(&[2, 3], &[1, 2]);
        assert!(!transposed.is_contiguous() && transposed.is_dense());
        // Element (i, j) sits at i + 2j: logical order 0,2,4,1,3,5.
        assert_eq!(transposed.gather_indices(), Some(vec![0, 2, 4, 1, 3, 5]));
        let strided = layout(&[2, 3], &[6, 2]);
        assert!(!strided.is_dense());
        // Size-1 dimensions may carry any stride.
        let column = layout(&[4, 1, 1], &[1, 1, 1]);
        assert!(column.is_contiguous());
    }

    /// Pickle opcodes for an int (LONG1 of 8 bytes).
    fn int(v: u64) -> Vec<u8> {
        let mut p = vec![0x8a, 8];
        p.extend_from_slice(&v.to_le_bytes());
        p
    }

    fn unicode(s: &str) -> Vec<u8> {
        let mut p = vec![b'X'];
        p.extend_from_slice(&(s.len() as u32).to_le_bytes());
        p.extend_from_slice(s.as_bytes());
        p
    }

    fn tuple(items: &[u64]) -> Vec<u8> {
        let mut p = vec![b'('];
        items.iter().for_each(|&i| p.extend(int(i)));
        p.push(b't');
        p
    }

    /// `{'w': _rebuild_tensor_v2(<storage ('storage', FloatStorage, '0', 'cpu', numel)>, offset, shape, strides,
    /// False, {})}`, protocol 2, written opcode by opcode as `torch.save` writes it.
    fn tensor_pickle(shape: &[u64], strides: &[u64], offset: u64, storage_numel: u64) -> Vec<u8> {
        let mut p = vec![0x80, 2, b'}'];
        p.extend(unicode("w"));
        p.extend_from_slice(b"ctorch._utils\n_rebuild_tensor_v2\n(");
        p.push(b'(');
        p.extend(unicode("storage"));
        p.extend_from_slice(b"ctorch\nFloatStorage\n");
        p.extend(unicode("0"));
        p.extend(unicode("cpu"));
        p.extend(int(storage_numel));
        p.extend_from_slice(b"tQ");
        p.extend(int(offset));
        p.extend(tuple(shape));
        p.extend(tuple(strides));
        p.extend_from_slice(&[0x89, b'}', b't', b'R', b's', b'.']);
        p
    }

    const FILE: u64 = 1 << 20;

    #[test]
    fn reads_layouts_from_a_protocol_2_pickle() {
        // pickle.dumps({'w': torch._utils._rebuild_tensor_v2(('storage', ...), 0, (2, 3), (1, 2), False, {})},
        // protocol=2) written opcode by opcode (the persistent id is a plain string here).
        let mut p = vec![0x80, 2, b'}', b'q', 0, b'X', 1, 0, 0, 0, b'w'];
        p.extend_from_slice(b"ctorch._utils\n_rebuild_tensor_v2\nq\x01");
        p.extend_from_slice(&[b'(', b'X', 1, 0, 0, 0, b's', b'Q', b'K', 0, b'K', 2, b'K', 3, 0x86]);
        p.extend_from_slice(&[b'K', 1, b'K', 2, 0x86, 0x89, b'}', b't', b'R', b's', b'.']);
        let layouts = pickle_layouts(&p, FILE).unwrap();
        assert_eq!(layouts["w"], TensorLayout { storage: None, ..layout(&[2, 3], &[1, 2]) });
    }

    #[test]
    fn reads_the_storage_size_from_the_persistent_id() {
        let layouts = pickle_layouts(&tensor_pickle(&[2, 3], &[1, 2], 0, 6), FILE).unwrap();
        assert_eq!(layouts["w"].storage, Some(StorageInfo { numel: 6, element_size: Some(4) }));
        assert_eq!(layouts["w"].check(FILE), Ok(24));
    }

    #[test]
    fn refuses_a_tensor_that_reaches_past_its_storage() {
        let e = pickle_layouts(&tensor_pickle(&[2, 3], &[1, 2], 0, 5), FILE).unwrap_err();
        assert!(e.contains("tensor `w`") && e.contains("reach element 6 of a storage of 5"), "{e}");
        let e = pickle_layouts(&tensor_pickle(&[2, 3], &[3, 1], 1, 6), FILE).unwrap_err();
        assert!(e.contains("reach element 7"), "{e}");
    }

    #[test]
    fn refuses_a_storage_larger_than_the_file() {
        let e = pickle_layouts(&tensor_pickle(&[4], &[1], 0, 1 << 40), FILE).unwrap_err();
        assert!(e.contains("cannot be in a file of 1048576 bytes"), "{e}");
    }

    #[test]
    fn overflowing_shapes_are_errors_not_panics() {
        let e = pickle_layouts(&tensor_pickle(&[1 << 40, 1 << 40], &[1 << 40, 1], 0, 8), FILE).unwrap_err();
        assert!(e.contains("overflows"), "{e}");
        let big = layout(&[1 << 40, 1 << 40], &[1, 1]);
        assert_eq!(big.numel(), None);
        assert_eq!(big.gather_indices(), None);
        assert!(!big.is_contiguous() && !big.is_dense());
        assert!(big.check(FILE).is_err());
    }

    #[test]
    fn zero_dimensional_and_empty_tensors_are_fine() {
        let scalar = pickle_layouts(&tensor_pickle(&[], &[], 0, 1), FILE).unwrap();
        let scalar = &scalar["w"];
        assert_eq!((scalar.numel(), scalar.check(FILE)), (Some(1), Ok(4)));
        assert!(scalar.is_contiguous());
        assert_eq!(scalar.gather_indices(), Some(vec![0]));
        let empty = pickle_layouts(&tensor_pickle(&[0, 3], &[3, 1], 0, 0), FILE).unwrap();
        assert_eq!(empty["w"].check(FILE), Ok(0));
    }

    #[test]
    fn refuses_strides_of_another_rank() {
        let e = pickle_layouts(&tensor_pickle(&[2, 3], &[1], 0, 6), FILE).unwrap_err();
        assert!(e.contains("different ranks"), "{e}");
        assert_eq!(layout(&[2, 3], &[1]).gather_indices(), None);
    }

    #[test]
    fn refuses_a_dict_that_contains_itself() {
        // d = {}; d['a'] = d
        let p = [0x80, 2, b'}', b'q', 0, b'X', 1, 0, 0, 0, b'a', b'h', 0, b's', b'.'];
        let e = pickle_layouts(&p, FILE).unwrap_err();
        assert!(e.contains("contains itself"), "{e}");
        // d['a'] = d; d['b'] = d: a walk that followed both would visit 2^depth paths.
        let mut p = vec![0x80, 2, b'}', b'q', 0];
        for key in [b'a', b'b'] {
            p.extend_from_slice(&[b'X', 1, 0, 0, 0, key, b'h', 0, b's']);
        }
        p.push(b'.');
        let e = pickle_layouts(&p, FILE).unwrap_err();
        assert!(e.contains("contains itself"), "{e}");
    }

    #[test]
    fn refuses_aliases_that_expand_exponentially() {
        // l0 = []; l1 = [l0, l0]; l2 = [l1, l1]; ... l64: 2^64 objects to a reader that copies memo references.
        let mut p = vec![0x80, 2, b']', b'r', 0, 0, 0, 0];
        for i in 1u32..=64 {
            p.extend_from_slice(b"](j");
            p.extend_from_slice(&(i - 1).to_le_bytes());
            p.push(b'j');
            p.extend_from_slice(&(i - 1).to_le_bytes());
            p.extend_from_slice(b"er");
            p.extend_from_slice(&i.to_le_bytes());
        }
        p.push(b'.');
        let e = pickle_layouts(&p, FILE).unwrap_err();
        assert!(e.contains("expand"), "{e}");
        // The same with dicts of dicts (a walk that joins keys would visit every path).
        let mut p = vec![0x80, 2, b'}', b'r', 0, 0, 0, 0];
        for i in 1u32..=64 {
            p.push(b'}');
            for key in [b'a', b'b'] {
                p.extend_from_slice(&[b'X', 1, 0, 0, 0, key, b'j']);
                p.extend_from_slice(&(i - 1).to_le_bytes());
                p.push(b's');
            }
            p.push(b'r');
            p.extend_from_slice(&i.to_le_bytes());
        }
        p.push(b'.');
        assert!(pickle_layouts(&p, FILE).unwrap_err().contains("expand"));
        // Copies alone (a small value fetched from the memo many times) are bounded too.
        let mut p = vec![0x80, 2, b']', b'('];
        p.extend(std::iter::repeat_n([b'K', 1], 1000).flatten());
        p.extend_from_slice(&[b'e', b'q', 0]);
        p.extend(std::iter::repeat_n([b'h', 0, b'0'], 100_000).flatten());
        p.push(b'.');
        assert!(pickle_layouts(&p, FILE).unwrap_err().contains("copy more than"));
    }

    #[test]
    fn refuses_deep_nesting() {
        let mut p = vec![0x80, 2, b')'];
        p.extend(std::iter::repeat_n(0x85, 1000));
        p.push(b'.');
        assert!(pickle_layouts(&p, FILE).unwrap_err().contains("nested more than"));
    }

    #[test]
    fn truncated_pickles_are_errors_not_panics() {
        assert!(pickle_layouts(&[0x80, 2, b'X', 9, 0], FILE).is_err());
        assert!(pickle_layouts(&[], FILE).is_err());
        assert!(pickle_layouts(&[b'h', 7], FILE).is_err());
        let whole = tensor_pickle(&[2, 3], &[1, 2], 0, 6);
        for end in 0..whole.len() {
            assert!(pickle_layouts(&whole[..end], FILE).is_err(), "prefix of {end} bytes");
        }
    }
}
