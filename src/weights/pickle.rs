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

/// Where one tensor's elements sit in its storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorLayout {
    pub shape: Vec<usize>,
    pub strides: Vec<usize>,
    pub offset: usize,
}

impl TensorLayout {
    /// Row-major with no gaps: what burn-store assumes.
    pub fn is_contiguous(&self) -> bool {
        let mut expected = 1;
        for (&dim, &stride) in self.shape.iter().zip(&self.strides).rev() {
            if dim != 1 && stride != expected {
                return false;
            }
            expected *= dim;
        }
        true
    }

    /// A permutation of a contiguous layout (dense, no overlap, no gap): the elements fill exactly
    /// `offset .. offset + numel` of the storage.
    pub fn is_dense(&self) -> bool {
        let mut dims: Vec<(usize, usize)> =
            self.strides.iter().copied().zip(self.shape.iter().copied()).filter(|&(_, d)| d != 1).collect();
        dims.sort_unstable();
        let mut expected = 1;
        for (stride, dim) in dims {
            if stride != expected {
                return false;
            }
            expected *= dim;
        }
        true
    }

    /// For each element in row-major (logical) order, its index among the `numel` stored elements.
    pub fn gather_indices(&self) -> Vec<usize> {
        let numel: usize = self.shape.iter().product();
        let mut out = Vec::with_capacity(numel);
        let mut index = vec![0usize; self.shape.len()];
        for _ in 0..numel {
            out.push(index.iter().zip(&self.strides).map(|(i, s)| i * s).sum());
            for d in (0..index.len()).rev() {
                index[d] += 1;
                if index[d] < self.shape[d] {
                    break;
                }
                index[d] = 0;
            }
        }
        out
    }
}

/// A pickled value; only what locates tensors is kept (numbers other than ints, bytes, persistent ids and
/// built objects are `Other`).
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

/// Reads one pickle starting at `data[pos]`; returns its root value and the position after its STOP opcode.
fn parse(data: &[u8], mut pos: usize) -> Result<(Pickle, usize, usize), String> {
    let mut arena: Vec<Value> = Vec::new();
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
    fn push(arena: &mut Vec<Value>, stack: &mut Vec<Slot>, v: Value) {
        arena.push(v);
        stack.push(Slot::Val(arena.len() - 1));
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
    fn set_items(arena: &mut [Value], target: usize, items: &[usize]) -> Result<(), String> {
        if let Value::Dict(d) = &mut arena[target] {
            for pair in items.chunks(2) {
                if let [k, v] = pair {
                    d.push((*k, *v));
                }
            }
        }
        // SETITEMS on other objects (e.g. a reduced custom class) are irrelevant to tensor layouts.
        Ok(())
    }
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
                return Ok((Pickle { arena }, root, pos));
            }
            b'(' => stack.push(Slot::Mark),
            b'N' => push(&mut arena, &mut stack, Value::Other),
            0x88 => push(&mut arena, &mut stack, Value::Other),
            0x89 => push(&mut arena, &mut stack, Value::Other),
            b'J' => {
                let v = le(take!(4)) as u32 as i32 as i64;
                push(&mut arena, &mut stack, Value::Int(v));
            }
            b'K' => {
                let v = take!(1)[0] as i64;
                push(&mut arena, &mut stack, Value::Int(v));
            }
            b'M' => {
                let v = le(take!(2)) as i64;
                push(&mut arena, &mut stack, Value::Int(v));
            }
            0x8a => {
                // LONG1: little-endian two's complement of n bytes.
                let n = take!(1)[0] as usize;
                let b = take!(n);
                let mut v = le(&b[..n.min(8)]) as i64;
                if n > 0 && n < 8 && b[n - 1] & 0x80 != 0 {
                    v -= 1i64 << (8 * n);
                }
                push(&mut arena, &mut stack, Value::Int(v));
            }
            b'I' | b'L' => {
                let s = line(data, &mut pos)?;
                let v = match s.trim_end_matches('L') {
                    "01" => 1,
                    "00" => 0,
                    t => t.parse::<i64>().map_err(|e| e.to_string())?,
                };
                push(&mut arena, &mut stack, Value::Int(v));
            }
            b'G' => {
                take!(8);
                push(&mut arena, &mut stack, Value::Other);
            }
            b'X' => {
                let n = le(take!(4)) as usize;
                let s = String::from_utf8_lossy(take!(n)).into_owned();
                push(&mut arena, &mut stack, Value::Str(s));
            }
            0x8c => {
                let n = take!(1)[0] as usize;
                let s = String::from_utf8_lossy(take!(n)).into_owned();
                push(&mut arena, &mut stack, Value::Str(s));
            }
            0x8d => {
                let n = le(take!(8)) as usize;
                let s = String::from_utf8_lossy(take!(n)).into_owned();
                push(&mut arena, &mut stack, Value::Str(s));
            }
            b'T' | b'B' => {
                let n = le(take!(4)) as usize;
                let b = take!(n);
                let v = if op == b'T' { Value::Str(String::from_utf8_lossy(b).into_owned()) } else { Value::Other };
                push(&mut arena, &mut stack, v);
            }
            b'U' | b'C' => {
                let n = take!(1)[0] as usize;
                let b = take!(n);
                let v = if op == b'U' { Value::Str(String::from_utf8_lossy(b).into_owned()) } else { Value::Other };
                push(&mut arena, &mut stack, v);
            }
            0x8e => {
                let n = le(take!(8)) as usize;
                take!(n);
                push(&mut arena, &mut stack, Value::Other);
            }
            b'V' | b'S' => {
                let s = line(data, &mut pos)?;
                push(&mut arena, &mut stack, Value::Str(s.trim_matches('\'').to_string()));
            }
            b')' => push(&mut arena, &mut stack, Value::Tuple(Vec::new())),
            b']' => push(&mut arena, &mut stack, Value::List(Vec::new())),
            b'}' => push(&mut arena, &mut stack, Value::Dict(Vec::new())),
            b't' => {
                let items = pop_mark(&mut stack)?;
                push(&mut arena, &mut stack, Value::Tuple(items));
            }
            b'l' => {
                let items = pop_mark(&mut stack)?;
                push(&mut arena, &mut stack, Value::List(items));
            }
            b'd' => {
                let items = pop_mark(&mut stack)?;
                push(&mut arena, &mut stack, Value::Dict(Vec::new()));
                let target = top(&stack)?;
                set_items(&mut arena, target, &items)?;
            }
            0x85..=0x87 => {
                let n = (op - 0x84) as usize;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(pop(&mut stack)?);
                }
                items.reverse();
                push(&mut arena, &mut stack, Value::Tuple(items));
            }
            b'a' => {
                let v = pop(&mut stack)?;
                let list = top(&stack)?;
                if let Value::List(l) = &mut arena[list] {
                    l.push(v);
                }
            }
            b'e' => {
                let items = pop_mark(&mut stack)?;
                let list = top(&stack)?;
                if let Value::List(l) = &mut arena[list] {
                    l.extend(items);
                }
            }
            b's' => {
                let v = pop(&mut stack)?;
                let k = pop(&mut stack)?;
                let target = top(&stack)?;
                set_items(&mut arena, target, &[k, v])?;
            }
            b'u' => {
                let items = pop_mark(&mut stack)?;
                let target = top(&stack)?;
                set_items(&mut arena, target, &items)?;
            }
            b'c' => {
                let module = line(data, &mut pos)?;
                let name = line(data, &mut pos)?;
                push(&mut arena, &mut stack, Value::Global(module, name));
            }
            0x93 => {
                let name = pop(&mut stack)?;
                let module = pop(&mut stack)?;
                let s = |i: usize| match &arena[i] {
                    Value::Str(s) => s.clone(),
                    _ => String::new(),
                };
                let g = Value::Global(s(module), s(name));
                push(&mut arena, &mut stack, g);
            }
            b'Q' => {
                pop(&mut stack)?;
                push(&mut arena, &mut stack, Value::Other);
            }
            b'R' | 0x81 => {
                let args = pop(&mut stack)?;
                let callable = pop(&mut stack)?;
                let is_ordered_dict =
                    matches!(&arena[callable], Value::Global(m, n) if m == "collections" && n == "OrderedDict");
                let v = if is_ordered_dict { Value::Dict(Vec::new()) } else { Value::Reduce(callable, args) };
                push(&mut arena, &mut stack, v);
            }
            b'b' => {
                let state = pop(&mut stack)?;
                let obj = pop(&mut stack)?;
                // BUILD on a dict (an OrderedDict's `_metadata`) changes no tensor.
                let _ = state;
                if !matches!(arena[obj], Value::Dict(_)) {
                    arena[obj] = Value::Other;
                }
                stack.push(Slot::Val(obj));
            }
            b'q' => {
                let k = take!(1)[0] as u64;
                memo.insert(k, top(&stack)?);
            }
            b'r' => {
                let k = le(take!(4));
                memo.insert(k, top(&stack)?);
            }
            0x94 => {
                let k = memo.len() as u64;
                memo.insert(k, top(&stack)?);
            }
            b'p' => {
                let k: u64 = line(data, &mut pos)?.parse().map_err(|e: std::num::ParseIntError| e.to_string())?;
                memo.insert(k, top(&stack)?);
            }
            b'h' | b'j' | b'g' => {
                let k = match op {
                    b'h' => take!(1)[0] as u64,
                    b'j' => le(take!(4)),
                    _ => line(data, &mut pos)?.parse().map_err(|e: std::num::ParseIntError| e.to_string())?,
                };
                let v = *memo.get(&k).ok_or_else(|| format!("pickle memo {k} missing"))?;
                stack.push(Slot::Val(v));
            }
            b'0' => {
                stack.pop();
            }
            b'2' => {
                let v = top(&stack)?;
                stack.push(Slot::Val(v));
            }
            other => return Err(format!("unsupported pickle opcode 0x{other:02x}")),
        }
    }
}

impl Pickle {
    fn ints(&self, v: usize) -> Option<Vec<usize>> {
        match &self.arena[v] {
            Value::Tuple(items) | Value::List(items) => items
                .iter()
                .map(|&i| match self.arena[i] {
                    Value::Int(n) if n >= 0 => Some(n as usize),
                    _ => None,
                })
                .collect(),
            _ => None,
        }
    }

    fn tuple(&self, v: usize) -> Option<&[usize]> {
        match &self.arena[v] {
            Value::Tuple(items) => Some(items),
            _ => None,
        }
    }

    /// The layout of a rebuilt tensor, through `_rebuild_parameter` / `_rebuild_from_type_v2` wrappers.
    fn tensor_layout(&self, v: usize, depth: usize) -> Option<TensorLayout> {
        let Value::Reduce(callable, args) = self.arena[v] else { return None };
        let Value::Global(module, name) = &self.arena[callable] else { return None };
        let args = self.tuple(args)?;
        match (module.as_str(), name.as_str()) {
            ("torch._utils", "_rebuild_tensor_v2" | "_rebuild_tensor") if args.len() >= 4 => {
                let offset = match self.arena[args[1]] {
                    Value::Int(n) if n >= 0 => n as usize,
                    _ => return None,
                };
                Some(TensorLayout { shape: self.ints(args[2])?, strides: self.ints(args[3])?, offset })
            }
            ("torch._utils", "_rebuild_parameter" | "_rebuild_parameter_with_state") if depth < 4 => {
                self.tensor_layout(*args.first()?, depth + 1)
            }
            ("torch._tensor", "_rebuild_from_type_v2") if depth < 4 && args.len() >= 3 => {
                let inner = self.tuple(args[2])?;
                let Value::Global(m, n) = &self.arena[args[0]] else { return None };
                if m == "torch._utils" && (n == "_rebuild_tensor_v2" || n == "_rebuild_tensor") && inner.len() >= 4 {
                    let offset = match self.arena[inner[1]] {
                        Value::Int(x) if x >= 0 => x as usize,
                        _ => return None,
                    };
                    return Some(TensorLayout { shape: self.ints(inner[2])?, strides: self.ints(inner[3])?, offset });
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

    /// Walks nested dicts, joining keys with `.` like burn-store does.
    fn collect(&self, v: usize, path: &mut Vec<String>, out: &mut BTreeMap<String, TensorLayout>, depth: usize) {
        if depth > 64 {
            return;
        }
        if let Value::Dict(items) = &self.arena[v] {
            for &(k, val) in items {
                let Some(k) = self.key(k) else { continue };
                path.push(k);
                if let Some(layout) = self.tensor_layout(val, 0) {
                    out.insert(path.join("."), layout);
                } else {
                    self.collect(val, path, out, depth + 1);
                }
                path.pop();
            }
        }
    }
}

/// Tensor layouts of the main pickle of a legacy (pre-1.6) `torch.save` file: the fourth pickle, after the
/// magic number, the protocol version and the system info.
pub fn legacy_layouts(file: &[u8]) -> Result<BTreeMap<String, TensorLayout>, String> {
    let mut pos = 0;
    for _ in 0..3 {
        pos = parse(file, pos)?.2;
    }
    layouts_at(file, pos)
}

/// Tensor layouts of a zip-format file's `data.pkl`.
pub fn pickle_layouts(pickle: &[u8]) -> Result<BTreeMap<String, TensorLayout>, String> {
    layouts_at(pickle, 0)
}

fn layouts_at(data: &[u8], pos: usize) -> Result<BTreeMap<String, TensorLayout>, String> {
    let (pickle, root, _) = parse(data, pos)?;
    let mut out = BTreeMap::new();
    pickle.collect(root, &mut Vec::new(), &mut out, 0);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contiguity_and_density() {
        let row_major = TensorLayout { shape: vec![2, 3], strides: vec![3, 1], offset: 0 };
        assert!(row_major.is_contiguous() && row_major.is_dense());
        let transposed = TensorLayout { shape: vec![2, 3], strides: vec![1, 2], offset: 0 };
        assert!(!transposed.is_contiguous() && transposed.is_dense());
        // Element (i, j) sits at i + 2j: logical order 0,2,4,1,3,5.
        assert_eq!(transposed.gather_indices(), vec![0, 2, 4, 1, 3, 5]);
        let strided = TensorLayout { shape: vec![2, 3], strides: vec![6, 2], offset: 0 };
        assert!(!strided.is_dense());
        // Size-1 dimensions may carry any stride.
        let column = TensorLayout { shape: vec![4, 1, 1], strides: vec![1, 1, 1], offset: 0 };
        assert!(column.is_contiguous());
    }

    #[test]
    fn reads_layouts_from_a_protocol_2_pickle() {
        // pickle.dumps({'w': torch._utils._rebuild_tensor_v2(('storage', ...), 0, (2, 3), (1, 2), False, {})},
        // protocol=2) written opcode by opcode (the persistent id is a plain string here).
        let mut p = vec![0x80, 2, b'}', b'q', 0, b'X', 1, 0, 0, 0, b'w'];
        p.extend_from_slice(b"ctorch._utils\n_rebuild_tensor_v2\nq\x01");
        p.extend_from_slice(&[b'(', b'X', 1, 0, 0, 0, b's', b'Q', b'K', 0, b'K', 2, b'K', 3, 0x86]);
        p.extend_from_slice(&[b'K', 1, b'K', 2, 0x86, 0x89, b'}', b't', b'R', b's', b'.']);
        let layouts = pickle_layouts(&p).unwrap();
        assert_eq!(layouts["w"], TensorLayout { shape: vec![2, 3], strides: vec![1, 2], offset: 0 });
    }

    #[test]
    fn truncated_pickles_are_errors_not_panics() {
        assert!(pickle_layouts(&[0x80, 2, b'X', 9, 0]).is_err());
        assert!(pickle_layouts(&[]).is_err());
        assert!(pickle_layouts(&[b'h', 7]).is_err());
    }
}
