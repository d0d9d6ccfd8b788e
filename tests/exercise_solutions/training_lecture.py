"""The lecture's training loop, as a function."""


def train(model, xs, ys, steps=20, learning_rate=0.1):
    losses = []
    for k in range(steps):
        # forward pass
        ypred = [model(x) for x in xs]
        loss = sum((yout - ygt)**2 for ygt, yout in zip(ys, ypred))

        # backward pass
        for p in model.parameters():
            p.grad = 0.0
        loss.backward()

        # update
        for p in model.parameters():
            p.data += -learning_rate * p.grad

        losses.append(loss.data)
    return losses
