/// The view family. Each op maps the layout and keeps the storage: O(rank), no element copied,
/// `result.sharesStorage(with: self)` is true. The exceptions are named: ``reshaped(_:)`` and
/// ``flattened(startAxis:endAxis:)`` copy when no strides can express the result, and
/// ``contiguous()`` copies when the tensor is not contiguous.
extension Tensor {
  func viewing(_ newLayout: TensorLayout) -> Tensor {
    Tensor(storage: storage, layout: newLayout)
  }

  /// The same elements in `shape` (one `-1` is inferred): a view whenever strides allow it,
  /// otherwise a contiguous copy.
  ///
  ///     let x = Tensor<Float>.zeros(shape: [32, 10, 64])   // [B, T, H]
  ///     x.reshaped([32, -1])                              // [B, T·H], O(1), shares storage
  ///     x.permuted([1, 0, 2]).reshaped([-1, 64])           // [T·B, H], copies (no view exists)
  ///
  /// Use ``reshapedView(_:)`` to learn whether a view exists without copying.
  /// - Precondition: the element count is unchanged.
  public func reshaped(_ shape: [Int]) -> Tensor {
    if let view = layout.reshapedView(shape) { return viewing(view) }
    return copied().viewing(TensorLayout(contiguous: layout.inferredShape(shape)))
  }

  /// The same elements in `shape` as a view, or `nil` when the strides cannot express it
  /// (PyTorch's `view`); O(rank), shares storage.
  ///
  ///     x.permuted([1, 0, 2]).reshapedView([-1, 64])   // nil: call contiguous() first
  public func reshapedView(_ shape: [Int]) -> Tensor? {
    layout.reshapedView(shape).map(viewing)
  }

  /// Axes reordered: new axis `k` is old axis `axes[k]`; O(rank), shares storage.
  ///
  ///     lstmOutput.permuted([0, 2, 1])   // [B, T, H] → [B, H, T], Conv1d's layout
  ///
  /// - Precondition: `axes` is a permutation of `0..<rank` (negative axes allowed).
  public func permuted(_ axes: [Int]) -> Tensor { viewing(layout.permuted(axes)) }

  /// Two axes swapped; O(rank), shares storage.
  ///
  ///     x.transposed(0, 1)   // [T, B, H] → [B, T, H]
  public func transposed(_ a: Int, _ b: Int) -> Tensor { viewing(layout.transposed(a, b)) }

  /// Axes `startAxis...endAxis` merged into one (PyTorch's `flatten`, `nn.Flatten` with
  /// `startAxis: 1`): a view when strides allow it, otherwise a copy.
  ///
  ///     lstmOutput.flattened(startAxis: 1)   // [B, T, H] → [B, T·H], O(1) when contiguous
  public func flattened(startAxis: Int = 0, endAxis: Int = -1) -> Tensor {
    reshaped(layout.flattenedShape(startAxis: startAxis, endAxis: endAxis))
  }

  /// `axis` split into `shape` (one `-1` inferred); O(rank), shares storage.
  ///
  ///     x.unflattened(axis: 1, shape: [10, 64])   // [B, 640] → [B, 10, 64]
  public func unflattened(axis: Int, shape: [Int]) -> Tensor {
    viewing(layout.unflattened(axis: axis, shape: shape))
  }

  /// Without the size-1 axis `axis` (a no-op when its size is not 1, as in PyTorch), or
  /// without every size-1 axis when `axis` is `nil`; O(rank), shares storage.
  ///
  ///     h.squeezed(axis: 0)   // [1, B, H] → [B, H]
  public func squeezed(axis: Int? = nil) -> Tensor { viewing(layout.squeezed(axis: axis)) }

  /// With a size-1 axis inserted at `axis` (`-1` appends); O(rank), shares storage.
  ///
  ///     x.unsqueezed(axis: 0)   // [T, I] → [1, T, I]
  public func unsqueezed(axis: Int) -> Tensor { viewing(layout.unsqueezed(axis: axis)) }

  /// The slice at `index` along `axis`, with that axis dropped (negative `index` counts from the
  /// end); O(rank), shares storage.
  ///
  ///     lstmOutput.selected(axis: 1, index: -1)   // [B, T, H] → [B, H], PyTorch's output[:, -1, :]
  public func selected(axis: Int, index: Int) -> Tensor {
    viewing(layout.selected(axis: axis, index: index))
  }

  /// The elements of `range` along `axis`, every `|step|`-th, walked from the last one
  /// backwards when `step` is negative; O(rank), shares storage.
  ///
  ///     x.sliced(axis: 1, range: 2..<8, step: 2)        // indices 2, 4, 6
  ///     x.sliced(axis: 1, range: 0..<T, step: -1)       // time reversed (PyTorch has no such view)
  public func sliced(axis: Int, range: Range<Int>, step: Int = 1) -> Tensor {
    viewing(layout.sliced(axis: axis, range: range, step: step))
  }

  /// Broadcast to `shape`: size-1 axes and new leading axes repeat with stride 0; `-1` keeps a
  /// size; O(rank), shares storage.
  ///
  ///     bias.unsqueezed(axis: 0).expanded(to: [B, -1])   // [1, H] → [B, H], strides [0, 1]
  public func expanded(to shape: [Int]) -> Tensor { viewing(layout.expanded(to: shape)) }
}

/// One entry of a ``Tensor`` subscript: an index, a range (with step), or a whole axis.
///
///     output[.all, -1, .all]   // PyTorch's output[:, -1, :]
public enum TensorIndex: ExpressibleByIntegerLiteral, Sendable {
  /// One position; the axis is dropped (``Tensor/selected(axis:index:)``).
  case at(Int)
  /// The positions of a range, every `step`-th (``Tensor/sliced(axis:range:step:)``).
  case range(Range<Int>, step: Int = 1)
  /// The whole axis, kept.
  case all

  /// An integer literal selects one position: `x[-1]`.
  public init(integerLiteral value: Int) { self = .at(value) }
}

extension Tensor {
  /// The view picked by one entry per leading axis; trailing axes are kept; O(rank), shares
  /// storage.
  ///
  ///     hidden[-1]                 // [L, B, H] → [B, H]
  ///     output[.all, -1, .all]     // [B, T, H] → [B, H]
  ///     output[.all, .range(0..<5)] // [B, 5, H]
  public subscript(_ entries: TensorIndex...) -> Tensor {
    get { self[entries] }
    set { self[entries] = newValue }
  }

  /// The view at the given positions of the leading axes, which are dropped (PyTorch's
  /// `x[i, j]`); O(rank), shares storage.
  ///
  ///     out.output[b, length - 1]   // [B, T, H] → [H]
  public subscript(_ indices: Int...) -> Tensor {
    get { self[indices.map(TensorIndex.at)] }
    set { self[indices.map(TensorIndex.at)] = newValue }
  }

  /// The view picked by an array of entries, as the variadic subscript. Assigning writes the
  /// new value's elements through that view (NumPy's slice assignment), broadcasting it as
  /// ``expanded(to:)`` does; the rest of the tensor is untouched.
  ///
  ///     var dY = Tensor<Float>.zeros(shape: [B, T, H])
  ///     dY[.all, -1, .all] = lastStepGradient       // [B, H] into the last step only
  ///
  /// Cost of a write: copies the new value's elements; copies this tensor first only when its
  /// storage is shared with another tensor (copy-on-write) or its layout aliases elements.
  /// - Precondition: the new value's shape broadcasts to the view's shape.
  public subscript(_ entries: [TensorIndex]) -> Tensor {
    get { viewing(viewLayout(entries)) }
    set {
      // Unique storage first (a copy may change the layout), then the view of it to write.
      makeUniquelyWritable()
      let target = viewLayout(entries)
      require(
        newValue.rank <= target.rank
          && zip(newValue.shape.reversed(), target.shape.reversed()).allSatisfy {
            $0 == $1 || $0 == 1
          },
        "subscript assignment: a value of shape \(newValue.shape) does not broadcast to the selected shape \(target.shape); reshape it or select a matching region"
      )
      let source = newValue.layout.expanded(to: target.shape)
      newValue.withBase { from in
        Tensor.copyElements(
          from: from - newValue.layout.offset, source, to: storage.base, target)
      }
    }
  }

  /// The layout of the view picked by `entries`.
  private func viewLayout(_ entries: [TensorIndex]) -> TensorLayout {
    require(
      entries.count <= rank,
      "subscript: \(entries.count) indices for a tensor of shape \(shape) with \(rank) axes")
    var result = layout
    var axis = 0
    for entry in entries {
      switch entry {
      case .at(let index):
        result = result.selected(axis: axis, index: index)
      case .range(let range, let step):
        result = result.sliced(axis: axis, range: range, step: step)
        axis += 1
      case .all:
        axis += 1
      }
    }
    return result
  }
}
